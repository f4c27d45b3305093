//! Worker threads that run jaq. A caller waits at most the budget; a worker that overran keeps
//! its thread (a thread cannot be killed) but is replaced, up to `MAX_STUCK` at a time, and its
//! expression is disabled so it cannot take another thread.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

use crate::{JqError, eval, limits};

/// Stack per worker: reserved address space, touched only as deep as jaq recurses. Deeply
/// nested inputs (serde_json allows 128 levels) and long pipelines stay far below it.
pub(crate) const STACK_BYTES: usize = 256 * 1024 * 1024;
/// Overrunning workers tolerated before expressions are refused with `Busy`.
const MAX_STUCK: usize = 4;
/// Compiled programs cached per worker; the cache is cleared when full.
const CACHE_ENTRIES: usize = 256;
/// Default time budget for one evaluation.
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(250);

struct Job {
    code: Arc<str>,
    input: Value,
    max_outputs: usize,
    started: Arc<AtomicBool>,
    abandoned: Arc<AtomicBool>,
    reply: oneshot::Sender<Result<Vec<Value>, JqError>>,
}

struct Inner {
    tx: mpsc::Sender<Job>,
    rx: Mutex<mpsc::Receiver<Job>>,
    poisoned: Mutex<HashSet<Arc<str>>>,
    stuck: AtomicUsize,
    budget: Duration,
}

/// A pool of jq workers; cheap to clone and share.
#[derive(Clone)]
pub struct Jq {
    inner: Arc<Inner>,
}

impl Jq {
    pub fn new(workers: usize, budget: Duration) -> Self {
        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            tx,
            rx: Mutex::new(rx),
            poisoned: Mutex::new(HashSet::new()),
            stuck: AtomicUsize::new(0),
            budget,
        });
        for _ in 0..workers.max(1) {
            spawn_worker(&inner);
        }
        Jq { inner }
    }

    /// Up to `max_outputs` results of `code` on `input`. The expression must have passed
    /// [`crate::validate`]; the static limits are checked again here all the same.
    pub async fn run(&self, code: &Arc<str>, input: Value, max_outputs: usize) -> Result<Vec<Value>, JqError> {
        limits::check(code)?;
        if lock(&self.inner.poisoned).contains(code) {
            return Err(JqError::Timeout);
        }
        if self.inner.stuck.load(Ordering::Acquire) >= MAX_STUCK {
            return Err(JqError::Busy);
        }
        let (reply, rx) = oneshot::channel();
        let started = Arc::new(AtomicBool::new(false));
        let abandoned = Arc::new(AtomicBool::new(false));
        let job = Job {
            code: code.clone(),
            input,
            max_outputs,
            started: started.clone(),
            abandoned: abandoned.clone(),
            reply,
        };
        self.inner.tx.send(job).map_err(|_| JqError::Busy)?;
        match tokio::time::timeout(self.inner.budget, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(JqError::Failed("the jq worker stopped".into())),
            Err(_) => {
                abandoned.store(true, Ordering::Release);
                if !started.load(Ordering::Acquire) {
                    // Queued behind others the whole time: not this expression's fault.
                    return Err(JqError::Busy);
                }
                lock(&self.inner.poisoned).insert(code.clone());
                self.inner.stuck.fetch_add(1, Ordering::AcqRel);
                spawn_worker(&self.inner);
                Err(JqError::Timeout)
            }
        }
    }

    /// The first result, if any.
    pub async fn first(&self, code: &Arc<str>, input: Value) -> Result<Option<Value>, JqError> {
        Ok(self.run(code, input, 1).await?.into_iter().next())
    }

    /// Workers currently running an expression that overran its budget.
    pub fn stuck_workers(&self) -> usize {
        self.inner.stuck.load(Ordering::Acquire)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data that is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn spawn_worker(inner: &Arc<Inner>) {
    let inner = Arc::downgrade(inner);
    // Failing to start a thread leaves the pool smaller; callers then see `Busy` or a timeout.
    let _ = std::thread::Builder::new()
        .name("jq-worker".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let mut cache: HashMap<Arc<str>, eval::Filter> = HashMap::new();
            loop {
                let Some(pool) = inner.upgrade() else { return };
                let job = match lock(&pool.rx).recv_timeout(Duration::from_secs(1)) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                if job.abandoned.load(Ordering::Acquire) {
                    continue;
                }
                job.started.store(true, Ordering::Release);
                let began = Instant::now();
                let result =
                    compiled(&mut cache, &job.code).and_then(|filter| eval::run(filter, job.input, job.max_outputs));
                if job.abandoned.load(Ordering::Acquire) && began.elapsed() >= pool.budget {
                    // The caller replaced this worker when it gave up; leave the pool.
                    pool.stuck.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                let _ = job.reply.send(result);
            }
        });
}

fn compiled<'c>(cache: &'c mut HashMap<Arc<str>, eval::Filter>, code: &Arc<str>) -> Result<&'c eval::Filter, JqError> {
    if !cache.contains_key(code) {
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(code.clone(), eval::compile(code)?);
    }
    // Inserted just above when missing.
    cache.get(code).ok_or_else(|| JqError::Failed("jq cache".into()))
}
