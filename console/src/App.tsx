import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import type { Auth } from "./auth/session";
import SignIn from "./SignIn";
import Machines from "./pages/Machines";

// The machines page is the first one people see: in the first chunk. The others load on use.
const NewMachine = lazy(() => import("./pages/NewMachine"));
const Machine = lazy(() => import("./pages/Machine"));
const Projects = lazy(() => import("./pages/Projects"));
const Teams = lazy(() => import("./pages/Teams"));
const SshKeys = lazy(() => import("./pages/SshKeys"));
const Secrets = lazy(() => import("./pages/Secrets"));
const Billing = lazy(() => import("./pages/Billing"));
const Account = lazy(() => import("./pages/Account"));

const NAV = [
  ["#/machines", "Machines"],
  ["#/projects", "Projects"],
  ["#/teams", "Teams"],
  ["#/ssh-keys", "SSH keys"],
  ["#/secrets", "Secrets"],
  ["#/billing", "Billing"],
  ["#/account", "Account"],
] as const;

function useHash() {
  const [hash, setHash] = useState(location.hash || "#/machines");
  useEffect(() => {
    const f = () => setHash(location.hash || "#/machines");
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return hash;
}

export default function App({ auth }: { auth: Auth }) {
  const [signedIn, setSignedIn] = useState<boolean | null>(null);
  useEffect(() => {
    const check = () => void auth.signedIn().then(setSignedIn);
    check();
    return auth.onChange(check);
  }, [auth]);
  const hash = useHash();
  const go = (h: string) => (location.hash = h);
  const api = auth.api;
  const [, section, id] = hash.split("/");
  const page = useMemo(() => {
    switch (section) {
      case "machines":
        return id === "new" ? <NewMachine api={api} go={go} /> : id ? <Machine api={api} id={id} go={go} /> : <Machines api={api} />;
      case "projects": return <Projects api={api} />;
      case "teams": return <Teams api={api} selected={id} go={go} />;
      case "ssh-keys": return <SshKeys api={api} />;
      case "secrets": return <Secrets api={api} />;
      case "billing": return <Billing api={api} />;
      case "account": return <Account api={api} signOut={() => void auth.signOut()} />;
      default: return <p role="alert">No such page. <a href="#/machines">Machines</a></p>;
    }
  }, [section, id, api, auth]);
  useEffect(() => {
    const label = NAV.find(([h]) => hash.startsWith(h))?.[1] ?? "Hangar";
    document.title = `${label} · Hangar`;
  }, [hash]);

  if (signedIn === null) return <p role="status">Loading…</p>;
  if (!signedIn) return <SignIn auth={auth} />;
  return (
    <>
      <header>
        <strong className="brand">Hangar</strong>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([h, label]) => (
              <li key={h}><a href={h} aria-current={hash.startsWith(h) ? "page" : undefined}>{label}</a></li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p role="status">Loading…</p>}>{page}</Suspense>
      </main>
    </>
  );
}
