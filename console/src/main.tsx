import { createRoot } from "react-dom/client";
import App from "./App";
import { Auth } from "./auth/session";
import { loadConfig } from "./config";
import "./index.css";

const root = createRoot(document.getElementById("root")!);
loadConfig().then(
  (config) => root.render(<App auth={new Auth(config)} />),
  (e) => root.render(<p role="alert">The console could not load its configuration: {String(e.message ?? e)}</p>),
);
