//! What the runner keeps on disk, under the working directory (a cache: the database holds
//! the claims, and any runner can take any job):
//! - `jobs/<jobId>.json`: a job this process holds (the raw webhook body, 0600: it may carry
//!   the agent token and secrets), from its 202 until it is done or not claimed;
//! - `jobs/<jobId>.final.json`: a job's final report `{callbackUrl, body}`, written before
//!   it is sent and kept until it was delivered (re-sent after a restart);
//! - `rejected/<jobId>.json`: a final report the Worker refused for good (for an operator).
//!
//! De-duplication of redeliveries and "a terminated machine never comes back" are the
//! claim's (API.md §5): here only the jobs this process holds right now are remembered,
//! so that a webhook delivered twice at once is queued once.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedFinal {
    pub callback_url: String,
    pub body: Value,
}

/// What startup found in `jobs/`.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Saved final reports: deliver them.
    pub finals: Vec<(String, SavedFinal)>,
    /// Entries that cannot be read or parsed; moved aside to `jobs/corrupt/`.
    pub corrupt: Vec<String>,
    /// Job bodies a runner before this one journaled (it died mid-job): removed, the
    /// reaper gives those jobs to a runner again.
    pub abandoned: Vec<String>,
}

pub enum Admission {
    New,
    Duplicate,
}

pub struct Journal {
    root: PathBuf,
    /// Job ids accepted and not yet finished here (guards concurrent deliveries of one job).
    active: Mutex<HashSet<String>>,
}

pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        // Private: a report may carry what a job's result holds.
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
        for sub in ["jobs", "machines"] {
            fs::create_dir_all(workdir.join(sub))?;
            #[cfg(unix)]
            fs::set_permissions(workdir.join(sub), std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        Ok(Journal { root: workdir.to_path_buf(), active: Mutex::new(HashSet::new()) })
    }

    pub fn final_path(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(format!("{id}.final.json"))
    }

    pub fn job_path(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(format!("{id}.json"))
    }

    /// Takes a job in (its body written before the 202); `Duplicate` when this process
    /// already holds it.
    pub fn admit(&self, id: &str, raw: &[u8]) -> io::Result<Admission> {
        if !self.active.lock().unwrap().insert(id.to_string()) {
            return Ok(Admission::Duplicate);
        }
        // The working directory is a cache that may be wiped under a running runner.
        let written = fs::create_dir_all(self.root.join("jobs")).and_then(|_| atomic_write(&self.job_path(id), raw));
        if let Err(e) = written {
            self.active.lock().unwrap().remove(id);
            return Err(e);
        }
        Ok(Admission::New)
    }

    /// The job is no longer held here (not claimed, or done): its body goes.
    pub fn release(&self, id: &str) {
        let _ = remove_if_exists(&self.job_path(id));
        self.active.lock().unwrap().remove(id);
    }

    /// Saves the final report of a job before it is sent.
    pub fn save_final(&self, id: &str, saved: &SavedFinal) -> io::Result<()> {
        fs::create_dir_all(self.root.join("jobs"))?;
        atomic_write(&self.final_path(id), &serde_json::to_vec(saved).expect("serialisable"))
    }

    /// The final report was delivered (or refused for good): the job is done.
    pub fn complete(&self, id: &str) -> io::Result<()> {
        remove_if_exists(&self.final_path(id))?;
        self.release(id);
        Ok(())
    }

    /// Keeps a copy of a report the Worker refused for good, then completes the job.
    pub fn reject(&self, id: &str, saved: &SavedFinal, why: &str) -> io::Result<()> {
        let dir = self.root.join("rejected");
        fs::create_dir_all(&dir)?;
        let copy = serde_json::json!({"callbackUrl": saved.callback_url, "body": saved.body, "refusal": why});
        atomic_write(&dir.join(format!("{id}.json")), copy.to_string().as_bytes())?;
        self.complete(id)
    }

    /// Reads what a previous run left in `jobs/` and marks those ids active. Removes stale
    /// temporary files and abandoned job bodies, moves unreadable entries to `jobs/corrupt/`.
    pub fn recover(&self) -> io::Result<Leftovers> {
        let dir = self.root.join("jobs");
        let mut left = Leftovers::default();
        let mut names: Vec<String> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in &names {
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(dir.join(name));
            } else if let Some(id) = name.strip_suffix(".final.json") {
                match fs::read(dir.join(name)).ok().and_then(|b| serde_json::from_slice::<SavedFinal>(&b).ok()) {
                    Some(saved) => left.finals.push((id.to_string(), saved)),
                    None => {
                        let aside = dir.join("corrupt");
                        let _ = fs::create_dir_all(&aside);
                        let _ = fs::rename(dir.join(name), aside.join(name));
                        left.corrupt.push(id.to_string());
                    }
                }
            } else if let Some(id) = name.strip_suffix(".json") {
                // A job body of an older runner: it may hold secrets; the job is the reaper's.
                let _ = fs::remove_file(dir.join(name));
                left.abandoned.push(id.to_string());
            }
        }
        self.active.lock().unwrap().extend(left.finals.iter().map(|(id, _)| id.clone()));
        Ok(left)
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
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(j.job_path("a")).unwrap().permissions().mode() & 0o777, 0o600);
        j.complete("a").unwrap();
        assert!(!j.job_path("a").exists());
        assert!(matches!(j.admit("a", b"{}").unwrap(), Admission::New), "a finished job is the claim's to refuse");
        j.release("a");

        let saved = SavedFinal { callback_url: "http://x/".into(), body: serde_json::json!({"jobId": "c"}) };
        j.save_final("c", &saved).unwrap();
        assert_eq!(std::fs::metadata(j.final_path("c")).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(tmp.path().join("jobs/d.final.json"), b"not json").unwrap();
        std::fs::write(tmp.path().join("jobs/e.tmp"), b"partial").unwrap();
        std::fs::write(tmp.path().join("jobs/b.json"), b"{\"secrets\":{}}").unwrap();

        let again = Journal::open(tmp.path()).unwrap();
        let left = again.recover().unwrap();
        assert_eq!(left.finals.len(), 1);
        assert_eq!(left.finals[0].0, "c");
        assert_eq!(left.corrupt, vec!["d".to_string()]);
        assert_eq!(left.abandoned, vec!["b".to_string()]);
        assert!(!tmp.path().join("jobs/e.tmp").exists());
        assert!(!tmp.path().join("jobs/b.json").exists());
        assert!(tmp.path().join("jobs/corrupt/d.final.json").exists());
        assert!(matches!(again.admit("c", b"{}").unwrap(), Admission::Duplicate));
    }
}
