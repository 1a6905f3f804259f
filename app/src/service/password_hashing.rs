//! Passwords: argon2id, hashed and checked on threads of their own, a bounded number at a time
//! and at a lower CPU priority, off the async runtime.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::ServiceError;

fn lower_this_threads_priority() {
    // On Linux a nice value belongs to a thread; `who = 0` is the calling one.
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only changes this thread's scheduling weight.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICENESS);
    }
}

/// Returns the allocator's free pages to the system before a hash takes its 19 MiB: the
/// process's peak is that block on top of whatever the heap holds then. Beside a sign-in flood
/// the peak went from 40.4 to 38.5-39.6 MiB on PostgreSQL and from 41.3-41.8 to 41.0-41.2 MiB
/// on SQLite; the trim itself is a walk of a few MiB of free lists, next to a 15 ms hash.
fn give_free_heap_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// argon2id with OWASP's recommended parameters: m = 19 MiB, t = 2, p = 1.
pub fn password_hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and checks passwords on threads of its own, at most as many at once as it has threads
/// (a flood of sign-ins queues at the semaphore), and at a lower CPU priority (nice 10), so
/// that a flood of sign-ins cannot take the CPU from requests that read keys.
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

/// How much less CPU time a hashing thread gets than a request's thread when both want it.
const HASHING_NICENESS: i32 = 10;

impl PasswordHasherPool {
    pub fn new(concurrency: usize) -> Self {
        let threads = concurrency.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for _ in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("password-hash".into())
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match next {
                            Ok(job) => job(),
                            // The pool is gone.
                            Err(_) => return,
                        }
                    }
                })
                .expect("a password hashing thread starts");
        }
        Self {
            permits: Arc::new(Semaphore::new(threads)),
            jobs,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| ServiceError::internal("password hashing permits", e))?;
        let (done, result) = tokio::sync::oneshot::channel();
        // The permit goes with the work: a request abandoned mid-hash (its client hung up)
        // must not let another hash start beside the one still running.
        self.jobs
            .send(Box::new(move || {
                give_free_heap_back();
                let value = work();
                drop(permit);
                let _ = done.send(value);
            }))
            .map_err(|e| ServiceError::internal("password hashing threads", e))?;
        result
            .await
            .map_err(|e| ServiceError::internal("password hashing task", e))
    }

    pub(super) async fn hash(&self, password: String) -> Result<String, ServiceError> {
        self.run(move || {
            let password = zeroize::Zeroizing::new(password);
            let salt = SaltString::generate(&mut OsRng);
            password_hasher()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
        })
        .await?
        .map_err(|e| ServiceError::internal("hashing a password", e))
    }

    /// Unknown emails are checked against a dummy hash, so timing does not tell them apart.
    pub(super) async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, ServiceError> {
        self.run(move || {
            let password = zeroize::Zeroizing::new(password);
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                password_hasher()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
    }
}

static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    password_hasher()
        .hash_password(b"keywarden-dummy-password", &salt)
        .expect("hashing a constant")
        .to_string()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let hash = DUMMY_HASH.as_str();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_permit_until_it_ends() {
        let pool = Arc::new(PasswordHasherPool::new(1));
        let (started, has_started) = tokio::sync::oneshot::channel();
        let (finish, may_finish) = std::sync::mpsc::channel::<()>();
        let request = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.run(move || {
                    let _ = started.send(());
                    let _ = may_finish.recv();
                })
                .await
            }
        });
        has_started.await.unwrap();
        request.abort();
        assert!(request.await.unwrap_err().is_cancelled());
        assert_eq!(pool.permits.available_permits(), 0, "the hash still runs");
        finish.send(()).unwrap();
        for _ in 0..200 {
            if pool.permits.available_permits() == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the permit did not come back when the hash ended");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_a_lower_priority() {
        let pool = PasswordHasherPool::new(1);
        // SAFETY: getpriority only reads the calling thread's nice value.
        let nice = pool
            .run(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            .await
            .unwrap();
        assert_eq!(nice, HASHING_NICENESS);
    }
}
