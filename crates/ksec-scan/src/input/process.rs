//! Running the tools users render with (`helm`, `kubectl`, `git`) under a time limit.
//!
//! Each tool runs in a process group of its own, watched by a thread that kills the whole
//! group when the limit passes: helm's plugins and the `git` that kustomize starts for a
//! remote base hold the same pipes, and killing only the tool would leave the reader
//! waiting on them. The group is killed only while the tool is not yet reaped (its zombie
//! keeps the id reserved), so a killed id can never be someone else's. A run's output
//! is bounded as well. (A tool in its own group does not get the terminal's Ctrl-C; it
//! ends at the time limit if ksec is interrupted first.)
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Stderr kept for the error summary; the rest is read and dropped.
const MAX_STDERR: u64 = 64 * 1024;

/// Why a tool's run gave no usable output.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It ran past the limit; its process group was killed.
    TimedOut(Duration),
    /// It printed more than the limit allows; its process group was killed.
    TooLarge(u64),
}

impl Failure {
    /// A sentence for a skipped input; `what` is the command (`helm template`).
    pub(crate) fn describe(&self, what: &str, program: &std::path::Path) -> String {
        match self {
            Failure::Spawn(e) => format!("cannot run {}: {e}", program.display()),
            Failure::TimedOut(limit) => format!(
                "{what} did not finish within {} and was killed (a big chart or a remote base may need a longer time limit)",
                seconds(*limit)
            ),
            Failure::TooLarge(max) => {
                format!("{what} printed more than {max} bytes and was killed; not scanned")
            }
        }
    }
}

/// `90 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[derive(Default)]
struct State {
    /// The tool was reaped: its id may belong to another process now.
    reaped: bool,
    /// The run is over; the watchdog leaves.
    done: bool,
    /// The watchdog killed the group.
    fired: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills the tool's process group unless the tool was reaped already.
fn kill_group(shared: &Shared, pid: u32) {
    let mut st = lock(shared);
    if st.reaped {
        return;
    }
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    st.fired = true;
}

/// A running tool with its watchdog.
pub(crate) struct Guarded {
    child: Child,
    shared: Shared,
    watchdog: Option<JoinHandle<()>>,
    limit: Duration,
    too_large: Option<u64>,
}

/// Starts `cmd` in a process group of its own, with a watchdog that kills the group after
/// `limit`. The caller sets up stdin, stdout and stderr.
pub(crate) fn spawn(cmd: &mut Command, limit: Duration) -> std::io::Result<Guarded> {
    cmd.process_group(0);
    let child = cmd.spawn()?;
    let pid = child.id();
    let shared: Shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
    let watched = shared.clone();
    let watchdog = std::thread::Builder::new()
        .name("ksec-scan-watchdog".into())
        .spawn(move || {
            let deadline = Instant::now() + limit;
            let mut st = lock(&watched);
            while !st.done {
                let now = Instant::now();
                if now >= deadline {
                    drop(st);
                    kill_group(&watched, pid);
                    return;
                }
                st = watched
                    .1
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        })?;
    Ok(Guarded {
        child,
        shared,
        watchdog: Some(watchdog),
        limit,
        too_large: None,
    })
}

impl Guarded {
    /// The tool's stdout, once.
    pub(crate) fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The tool's stdin, once.
    pub(crate) fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Kills the tool now because it printed more than `max` bytes.
    pub(crate) fn kill_too_large(&mut self, max: u64) {
        kill_group(&self.shared, self.child.id());
        self.too_large = Some(max);
    }

    /// Waits for the tool to end (it was killed if the limit passed) and reaps it.
    pub(crate) fn finish(mut self) -> Result<ExitStatus, Failure> {
        let mut pause = Duration::from_millis(1);
        let status = loop {
            {
                let mut st = lock(&self.shared);
                match self.child.try_wait() {
                    Ok(Some(status)) => {
                        st.reaped = true;
                        break Ok(status);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        st.reaped = true;
                        break Err(e);
                    }
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        };
        let fired = {
            let mut st = lock(&self.shared);
            st.done = true;
            st.fired
        };
        self.shared.1.notify_all();
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        if let Some(max) = self.too_large {
            return Err(Failure::TooLarge(max));
        }
        if fired {
            return Err(Failure::TimedOut(self.limit));
        }
        status.map_err(Failure::Spawn)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            // Dropped without `finish` (an early return): end the tool now.
            kill_group(&self.shared, self.child.id());
            let _ = self.child.wait();
            lock(&self.shared).done = true;
            self.shared.1.notify_all();
            if let Some(w) = self.watchdog.take() {
                let _ = w.join();
            }
        }
    }
}

/// What a finished tool printed.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Reads a stream to its end in a thread, keeping at most `max` bytes.
fn collect(stream: impl Read + Send + 'static, max: u64) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut r = stream;
        let _ = (&mut r).take(max).read_to_end(&mut kept);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        kept
    })
}

/// Runs `cmd` to its end within `limit`, with no stdin, keeping at most `max_stdout`
/// bytes of its output (more kills it).
pub(crate) fn run(mut cmd: Command, limit: Duration, max_stdout: u64) -> Result<Output, Failure> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut g = spawn(&mut cmd, limit).map_err(Failure::Spawn)?;
    let stderr = g.child.stderr.take().map(|e| collect(e, MAX_STDERR));
    let mut stdout = Vec::new();
    if let Some(out) = g.stdout() {
        let mut out = out;
        let _ = (&mut out).take(max_stdout + 1).read_to_end(&mut stdout);
        if stdout.len() as u64 > max_stdout {
            g.kill_too_large(max_stdout);
        }
    }
    let status = g.finish();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Output {
        status: status?,
        stdout,
        stderr,
    })
}

/// Runs `cmd` within `limit` and hands each line of its output to `each` as it comes
/// (the output is never held whole); returns the exit status and what it wrote to
/// stderr.
pub(crate) fn each_line(
    mut cmd: Command,
    limit: Duration,
    mut each: impl FnMut(&str),
) -> Result<(ExitStatus, Vec<u8>), Failure> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut g = spawn(&mut cmd, limit).map_err(Failure::Spawn)?;
    let stderr = g.child.stderr.take().map(|e| collect(e, MAX_STDERR));
    if let Some(out) = g.stdout() {
        let mut r = BufReader::new(out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => each(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r'])),
            }
        }
    }
    let status = g.finish();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok((status?, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_tool_past_its_limit_is_killed_with_what_it_started() {
        let start = Instant::now();
        // The grandchild holds stdout open: killing only `sh` would leave the read waiting.
        let r = run(
            sh("sleep 30 & sleep 30; echo never"),
            Duration::from_millis(300),
            1024,
        );
        assert!(matches!(r, Err(Failure::TimedOut(_))), "{:?}", r.err());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_tool_within_its_limit_gives_its_output() {
        let out = run(
            sh("echo hello; echo oops >&2; exit 3"),
            Duration::from_secs(20),
            1024,
        )
        .ok()
        .unwrap();
        assert_eq!(out.stdout, b"hello\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn output_beyond_the_bound_kills_the_tool() {
        let r = run(sh("yes"), Duration::from_secs(20), 1 << 16);
        assert!(matches!(r, Err(Failure::TooLarge(65536))), "{:?}", r.err());
    }

    #[test]
    fn lines_are_streamed_and_the_limit_holds() {
        let mut lines = vec![];
        let (status, _) = each_line(sh("printf 'a\\nb\\n'"), Duration::from_secs(20), |l| {
            lines.push(l.to_string())
        })
        .ok()
        .unwrap();
        assert!(status.success());
        assert_eq!(lines, ["a", "b"]);
        let r = each_line(sh("echo a; sleep 30"), Duration::from_millis(300), |_| {});
        assert!(matches!(r, Err(Failure::TimedOut(_))));
    }

    #[test]
    fn a_missing_program_is_a_spawn_failure() {
        let r = run(
            Command::new("/nonexistent/helm"),
            Duration::from_secs(1),
            10,
        );
        let Err(f) = r else { panic!("ran") };
        assert!(f
            .describe("helm template", std::path::Path::new("/nonexistent/helm"))
            .starts_with("cannot run /nonexistent/helm"));
    }
}
