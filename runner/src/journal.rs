//! The journal on disk, under the working directory:
//! - `jobs/<jobId>.json`: an accepted job (the raw webhook body), written before the 202;
//! - `jobs/<jobId>.final.json`: its final report `{callbackUrl, body}`, written before it is
//!   sent and kept until it was delivered;
//! - `done/<jobId>`: a finished job (kept [`DONE_TTL`]), so a redelivery is not run again;
//! - `rejected/<jobId>.json`: a final report the Worker refused for good (for an operator);
//! - `gone/<machineId>`: a machine whose terminate succeeded here (kept for good). Webhooks
//!   can arrive out of order (the Worker may hand over a create or start just before a
//!   delete): no later job may bring such a machine back, even after a restart.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How long `done/` markers are kept (pruned at startup).
pub const DONE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedFinal {
    pub callback_url: String,
    pub body: Value,
}

/// What startup found in `jobs/`.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Jobs with a saved final report: deliver it.
    pub finals: Vec<(String, SavedFinal)>,
    /// Jobs without one (the runner died mid-job): the raw job.
    pub interrupted: Vec<(String, Vec<u8>)>,
    /// Entries that cannot be read or parsed; moved aside to `jobs/corrupt/`.
    pub corrupt: Vec<String>,
}

pub enum Admission {
    New,
    Duplicate,
}

pub struct Journal {
    root: PathBuf,
    /// Job ids accepted and not yet finished (guards concurrent deliveries of one job).
    active: Mutex<HashSet<String>>,
}

pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        // Private: a create job carries the machine's agent token.
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Persist the rename itself; not every platform can open a directory.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Journal {
    /// Opens (and creates) the journal under `workdir`.
    pub fn open(workdir: &Path) -> io::Result<Journal> {
        for sub in ["jobs", "done", "machines", "gone"] {
            fs::create_dir_all(workdir.join(sub))?;
            #[cfg(unix)]
            fs::set_permissions(workdir.join(sub), std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        Ok(Journal { root: workdir.to_path_buf(), active: Mutex::new(HashSet::new()) })
    }

    pub fn job_path(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(format!("{id}.json"))
    }

    pub fn final_path(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(format!("{id}.final.json"))
    }

    pub fn done_path(&self, id: &str) -> PathBuf {
        self.root.join("done").join(id)
    }

    pub fn gone_path(&self, machine_id: &str) -> PathBuf {
        self.root.join("gone").join(machine_id)
    }

    /// Remembers that a terminate of this machine succeeded.
    pub fn mark_terminated(&self, machine_id: &str, job_id: &str) -> io::Result<()> {
        let marker = serde_json::json!({"jobId": job_id, "terminatedAt": crate::job::now_rfc3339()});
        atomic_write(&self.gone_path(machine_id), marker.to_string().as_bytes())
    }

    /// Whether a terminate of this machine succeeded here before.
    pub fn is_terminated(&self, machine_id: &str) -> bool {
        self.gone_path(machine_id).exists()
    }

    /// Records a job before it is acknowledged; `Duplicate` when the id was seen before
    /// (running, queued, finished or left over from before a restart).
    pub fn admit(&self, id: &str, raw: &[u8]) -> io::Result<Admission> {
        {
            let mut active = self.active.lock().unwrap();
            if active.contains(id) || self.done_path(id).exists() || self.job_path(id).exists() {
                return Ok(Admission::Duplicate);
            }
            active.insert(id.to_string());
        }
        if let Err(e) = atomic_write(&self.job_path(id), raw) {
            self.active.lock().unwrap().remove(id);
            return Err(e);
        }
        Ok(Admission::New)
    }

    /// Saves the final report of a job before it is sent.
    pub fn save_final(&self, id: &str, saved: &SavedFinal) -> io::Result<()> {
        atomic_write(&self.final_path(id), &serde_json::to_vec(saved).expect("serialisable"))
    }

    /// The final report was delivered (or refused for good): the job is done.
    pub fn complete(&self, id: &str, status: &str) -> io::Result<()> {
        let marker = serde_json::json!({"status": status, "finishedAt": crate::job::now_rfc3339()});
        atomic_write(&self.done_path(id), marker.to_string().as_bytes())?;
        remove_if_exists(&self.job_path(id))?;
        remove_if_exists(&self.final_path(id))?;
        self.active.lock().unwrap().remove(id);
        Ok(())
    }

    /// Keeps a copy of a report the Worker refused for good, then completes the job.
    pub fn reject(&self, id: &str, saved: &SavedFinal, why: &str) -> io::Result<()> {
        let dir = self.root.join("rejected");
        fs::create_dir_all(&dir)?;
        let copy = serde_json::json!({"callbackUrl": saved.callback_url, "body": saved.body, "refusal": why});
        atomic_write(&dir.join(format!("{id}.json")), copy.to_string().as_bytes())?;
        self.complete(id, "rejected")
    }

    /// Reads what a previous run left in `jobs/` and marks those ids active. Removes stale
    /// temporary files and moves unreadable entries to `jobs/corrupt/`.
    pub fn recover(&self) -> io::Result<Leftovers> {
        let dir = self.root.join("jobs");
        let mut left = Leftovers::default();
        let mut names: Vec<String> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let corrupt = |name: &str, id: &str, left: &mut Leftovers| {
            let aside = dir.join("corrupt");
            let _ = fs::create_dir_all(&aside);
            let _ = fs::rename(dir.join(name), aside.join(name));
            left.corrupt.push(id.to_string());
        };
        for name in &names {
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(dir.join(name));
            } else if let Some(id) = name.strip_suffix(".final.json") {
                match fs::read(dir.join(name)).ok().and_then(|b| serde_json::from_slice::<SavedFinal>(&b).ok()) {
                    Some(saved) => left.finals.push((id.to_string(), saved)),
                    None => corrupt(name, id, &mut left),
                }
            }
        }
        for name in &names {
            let Some(id) = name.strip_suffix(".json") else { continue };
            if id.ends_with(".final") || left.finals.iter().any(|(f, _)| f == id) {
                continue;
            }
            match fs::read(dir.join(name)) {
                Ok(raw) => left.interrupted.push((id.to_string(), raw)),
                Err(_) => corrupt(name, id, &mut left),
            }
        }
        let mut active = self.active.lock().unwrap();
        active.extend(left.finals.iter().map(|(id, _)| id.clone()));
        active.extend(left.interrupted.iter().map(|(id, _)| id.clone()));
        Ok(left)
    }

    /// Moves an unusable `jobs/<id>.json` to `jobs/corrupt/` and forgets the id.
    pub fn set_aside(&self, id: &str) {
        let aside = self.root.join("jobs").join("corrupt");
        let _ = fs::create_dir_all(&aside);
        let _ = fs::rename(self.job_path(id), aside.join(format!("{id}.json")));
        self.active.lock().unwrap().remove(id);
    }

    /// Removes `done/` markers older than [`DONE_TTL`]; returns how many.
    pub fn prune_done(&self) -> usize {
        let Ok(entries) = fs::read_dir(self.root.join("done")) else { return 0 };
        let now = SystemTime::now();
        let mut n = 0;
        for e in entries.filter_map(|e| e.ok()) {
            let old =
                e.metadata().and_then(|m| m.modified()).ok().and_then(|t| now.duration_since(t).ok()).is_some_and(|age| age > DONE_TTL);
            if old && fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_complete_recover() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::open(tmp.path()).unwrap();
        assert!(matches!(j.admit("a", b"{}").unwrap(), Admission::New));
        assert!(matches!(j.admit("a", b"{}").unwrap(), Admission::Duplicate));
        assert!(j.job_path("a").exists());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(j.job_path("a")).unwrap().permissions().mode() & 0o777, 0o600);
        j.complete("a", "succeeded").unwrap();
        assert!(!j.job_path("a").exists());
        assert!(matches!(j.admit("a", b"{}").unwrap(), Admission::Duplicate));

        assert!(matches!(j.admit("b", b"{\"x\":1}").unwrap(), Admission::New));
        assert!(matches!(j.admit("c", b"{}").unwrap(), Admission::New));
        let saved = SavedFinal { callback_url: "http://x/".into(), body: serde_json::json!({"jobId": "c"}) };
        j.save_final("c", &saved).unwrap();
        std::fs::write(tmp.path().join("jobs/d.final.json"), b"not json").unwrap();
        std::fs::write(tmp.path().join("jobs/e.tmp"), b"partial").unwrap();

        let again = Journal::open(tmp.path()).unwrap();
        let left = again.recover().unwrap();
        assert_eq!(left.interrupted, vec![("b".to_string(), b"{\"x\":1}".to_vec())]);
        assert_eq!(left.finals.len(), 1);
        assert_eq!(left.finals[0].0, "c");
        assert_eq!(left.corrupt, vec!["d".to_string()]);
        assert!(!tmp.path().join("jobs/e.tmp").exists());
        assert!(tmp.path().join("jobs/corrupt/d.final.json").exists());
        assert!(matches!(again.admit("b", b"{}").unwrap(), Admission::Duplicate));
        assert_eq!(again.prune_done(), 0);
    }

    #[test]
    fn terminated_machines_are_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let j = Journal::open(tmp.path()).unwrap();
        assert!(!j.is_terminated("m"));
        j.mark_terminated("m", "job-1").unwrap();
        assert!(j.is_terminated("m") && !j.is_terminated("n"));
        assert!(Journal::open(tmp.path()).unwrap().is_terminated("m"), "survives a restart");
    }
}
