//! One connection to the queue's Redis server that survives a server restart: a command
//! that fails on a lost or refused connection is retried on a fresh one for a while
//! (`reconnect_for`) before the error is returned. `rediss://` URLs use TLS (rustls); a
//! password comes from the URL or, when the URL has none, `CYCLEQD_REDIS_PASSWORD`.

use std::time::{Duration, Instant};

use redis::{Client, Connection, IntoConnectionInfo, RedisError};

use crate::error::{QueueError, Result};

/// The environment variable read for a password the URL does not carry.
pub const PASSWORD_ENV: &str = "CYCLEQD_REDIS_PASSWORD";

/// A reconnecting connection.
pub struct Link {
    client: Client,
    url: String,
    con: Option<Connection>,
    /// How long to keep retrying a lost connection.
    pub reconnect_for: Duration,
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Link {
    /// Opens `url` (`redis://[user:password@]host:port/db` or `rediss://...`). Nothing is
    /// sent until the first command.
    pub fn open(url: &str) -> Result<Self> {
        let shown = redact(url);
        let bad = |problem: String| QueueError::Url {
            url: shown.clone(),
            problem,
        };
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(bad("expected a redis:// or rediss:// URL".into()));
        }
        if url.starts_with("rediss://") {
            // rustls needs one process-wide crypto provider; a second install is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut info = url.into_connection_info().map_err(|e| bad(e.to_string()))?;
        if info.redis_settings().password().is_none() {
            if let Ok(password) = std::env::var(PASSWORD_ENV) {
                let settings = info.redis_settings().clone().set_password(password);
                info = info.set_redis_settings(settings);
            }
        }
        let client = Client::open(info).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            client,
            url: shown,
            con: None,
            reconnect_for: Duration::from_secs(60),
        })
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `f` on the connection, reconnecting and retrying while the server is
    /// unreachable (up to `reconnect_for`); `what` names the command in errors.
    pub fn run<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let outcome = match self.con.as_mut() {
                Some(con) => f(con),
                None => match self.client.get_connection() {
                    Ok(con) => {
                        let con = self.con.insert(con);
                        f(con)
                    }
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) if is_lost(&e) && started.elapsed() < self.reconnect_for => {
                    self.con = None;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(source) => {
                    if is_lost(&source) {
                        self.con = None;
                    }
                    return Err(self.error(what, source));
                }
            }
        }
    }

    /// A [`QueueError::Redis`] for `what`.
    pub fn error(&self, what: &str, source: RedisError) -> QueueError {
        QueueError::Redis {
            url: self.url.clone(),
            what: what.to_string(),
            source,
        }
    }
}

/// Whether the error means the connection is gone (or the server is loading after a
/// restart), so a retry on a new connection may succeed.
fn is_lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("redis://default:s3cret@10.0.0.1:6379/0"),
            "redis://default:***@10.0.0.1:6379/0"
        );
        assert_eq!(redact("rediss://:pw@h:1"), "rediss://:***@h:1");
        assert_eq!(redact("redis://h:1/2"), "redis://h:1/2");
    }

    #[test]
    fn other_schemes_are_refused() {
        let e = Link::open("http://h:1").err().expect("refused");
        assert!(e
            .to_string()
            .contains("expected a redis:// or rediss:// URL"));
    }
}
