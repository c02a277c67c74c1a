//! Running a child process (terraform, ssh): both streams read as they come, line by line
//! and/or captured up to a limit, optional stdin, optional timeout (the child is killed).
use std::io;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Lines longer than this are cut (the rest of the line is skipped).
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Default)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

#[derive(Debug)]
pub struct Finished {
    /// The exit code; None when killed by a signal (or on timeout).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
}

pub struct Spec {
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    /// How many bytes of each stream to keep in `Finished`.
    pub capture: usize,
}

async fn pump<R: AsyncRead + Unpin>(mut r: R, cap: usize, captured: &mut Captured, on_line: &mut (dyn FnMut(String) + Send)) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let room = cap.saturating_sub(captured.bytes.len());
        captured.bytes.extend_from_slice(&chunk[..room.min(n)]);
        if n > room {
            captured.truncated = true;
        }
        for &b in chunk {
            if b == b'\n' {
                if !skipping {
                    emit(&mut line, on_line);
                }
                line.clear();
                skipping = false;
            } else if !skipping {
                line.push(b);
                if line.len() >= MAX_LINE {
                    emit(&mut line, on_line);
                    line.clear();
                    skipping = true;
                }
            }
        }
    }
    if !line.is_empty() && !skipping {
        emit(&mut line, on_line);
    }
}

fn emit(line: &mut Vec<u8>, on_line: &mut (dyn FnMut(String) + Send)) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    on_line(String::from_utf8_lossy(line).into_owned());
}

/// Runs `cmd` to its end (or its timeout). `on_out` / `on_err` get every line as it comes.
pub async fn run(
    mut cmd: Command,
    spec: Spec,
    on_out: &mut (dyn FnMut(String) + Send),
    on_err: &mut (dyn FnMut(String) + Send),
) -> io::Result<Finished> {
    cmd.stdin(if spec.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    if let (Some(input), Some(mut w)) = (spec.stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = w.write_all(&input).await;
            let _ = w.shutdown().await;
        });
    }
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let mut stdout = Captured::default();
    let mut stderr = Captured::default();
    let sleep = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let mut timed_out = false;
    {
        let pumps = async { tokio::join!(pump(out, spec.capture, &mut stdout, on_out), pump(err, spec.capture, &mut stderr, on_err)) };
        tokio::pin!(pumps);
        tokio::select! {
            _ = &mut pumps => {}
            _ = &mut sleep => {
                timed_out = true;
                let _ = child.start_kill();
                // A grandchild may hold the pipes open: do not wait for it for long.
                let _ = tokio::time::timeout(Duration::from_secs(2), &mut pumps).await;
            }
        }
    }
    let status = if timed_out {
        tokio::time::timeout(Duration::from_secs(5), child.wait()).await.ok().transpose()?
    } else {
        tokio::select! {
            status = child.wait() => Some(status?),
            _ = &mut sleep => {
                timed_out = true;
                let _ = child.start_kill();
                tokio::time::timeout(Duration::from_secs(5), child.wait()).await.ok().transpose()?
            }
        }
    };
    let code = if timed_out { None } else { status.and_then(|s| s.code()) };
    Ok(Finished { code, timed_out, stdout, stderr })
}

/// `s` as one word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("ls"), "ls");
        assert_eq!(shell_quote("/var/log"), "/var/log");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's; rm -rf /"), r"'it'\''s; rm -rf /'");
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
    }

    #[tokio::test]
    async fn lines_capture_and_timeout() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf 'a\\nb\\r\\nc'; echo oops >&2; cat; exit 3"]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let spec = Spec { stdin: Some(b"IN".to_vec()), timeout: Some(Duration::from_secs(10)), capture: 4 };
        let f = run(cmd, spec, &mut |l| out.push(l), &mut |l| err.push(l)).await.unwrap();
        assert_eq!(f.code, Some(3));
        assert!(!f.timed_out);
        assert_eq!(out, ["a", "b", "cIN"]);
        assert_eq!(err, ["oops"]);
        assert_eq!((f.stdout.text().as_str(), f.stdout.truncated), ("a\nb\r", true));

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; sleep 30"]);
        let spec = Spec { stdin: None, timeout: Some(Duration::from_millis(300)), capture: 100 };
        let t = std::time::Instant::now();
        let f = run(cmd, spec, &mut |_| {}, &mut |_| {}).await.unwrap();
        assert!(f.timed_out && f.code.is_none());
        assert_eq!(f.stdout.text(), "started\n");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
