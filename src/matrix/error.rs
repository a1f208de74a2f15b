//! Turning SDK and HTTP errors into what the protocol core needs ([`Failure`]) and into
//! sentences a person understands. The raw error goes to the debug log, never to the user.

use std::time::{Duration, SystemTime};

use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::{ClientBuildError, HttpError};

use crate::config::DiskProblem;
use crate::rtc::own::{Failure, MAX_RETRY_AFTER_MS};

/// What went wrong with a command or a task of the worker; `Display` is the sentence a person
/// reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// A command that needs a session came before signing in.
    #[error("Not signed in.")]
    NotSignedIn,
    /// An alias that the homeserver could not resolve.
    #[error("The room {room} could not be found: {reason}")]
    RoomNotFound {
        /// The alias as given.
        room: String,
        /// Why, as a sentence.
        reason: String,
    },
    /// A room we are not in.
    #[error("You are not in the room {0}.")]
    NotInRoom(String),
    /// A decline where nothing rings.
    #[error("Nothing is ringing there.")]
    NothingRinging,
    /// The decline could not be sent.
    #[error("The decline could not be sent: {0}")]
    DeclineNotSent(String),
    /// Our ring could not be sent.
    #[error("The ring could not be sent: {0}")]
    RingNotSent(String),
    /// The power levels do not let us join: the sentence names the level it takes.
    #[error("{0}")]
    CallNotAllowed(String),
    /// The homeserver refused or could not be reached, as a sentence.
    #[error("{0}")]
    Homeserver(String),
    /// A restored session without a user.
    #[error("The session has no user; sign in again.")]
    NoUser,
    /// The homeserver forgot our token: signed out from another device.
    #[error("This session was signed out from another device; sign in again.")]
    SignedOutElsewhere,
    /// The access token expired: signing in again resumes the session on this device.
    #[error("Your session has expired; sign in again to resume it on this device.")]
    SessionExpired,
    /// The homeserver refuses to sync even afresh.
    #[error("{0} Vestibule stopped syncing; restart it to try again.")]
    SyncStopped(String),
    /// Restoring or removing the saved session failed, as a sentence.
    #[error("{0}")]
    Session(String),
}

/// Classifies an HTTP error for the own-membership machine.
pub fn failure_of_http(err: &HttpError) -> Failure {
    if let Some(kind) = err.client_api_error_kind() {
        return failure_of_kind(kind);
    }
    if let Some(api) = err.as_client_api_error() {
        // An answer without a Matrix error body: a proxy or a server that lacks the endpoint.
        return match api.status_code.as_u16() {
            429 => Failure::RateLimited {
                retry_after_ms: None,
            },
            400 | 404 | 405 | 501 => Failure::Unsupported,
            _ if api.status_code.is_server_error() => Failure::Network,
            status => Failure::Other(format!("HTTP {status}")),
        };
    }
    match err {
        HttpError::Reqwest(_) => Failure::Network,
        other => Failure::Other(other.to_string()),
    }
}

/// Classifies an SDK error for the own-membership machine.
pub fn failure_of(err: &matrix_sdk::Error) -> Failure {
    match err {
        matrix_sdk::Error::Http(http) => failure_of_http(http),
        other => match local_sentence(other) {
            Some(sentence) => Failure::Local(sentence),
            None => Failure::Other(other.to_string()),
        },
    }
}

fn failure_of_kind(kind: &ErrorKind) -> Failure {
    match kind {
        ErrorKind::Forbidden => Failure::Forbidden,
        ErrorKind::NotFound => Failure::NotFound,
        ErrorKind::Unrecognized => Failure::Unsupported,
        ErrorKind::LimitExceeded(data) => Failure::RateLimited {
            retry_after_ms: data.retry_after.as_ref().map(retry_after_ms),
        },
        // The delay we ask for is longer than the server allows: join without one.
        other if is_delay_too_large(other.errcode().as_ref()) => Failure::Unsupported,
        other => Failure::Other(other.errcode().to_string()),
    }
}

/// MSC4140's error for a delay past the server's maximum, and Synapse's unstable name of it.
fn is_delay_too_large(errcode: &str) -> bool {
    ["M_MAX_DELAY_EXCEEDED", "ORG.MATRIX.MSC4140_DELAY_TOO_LARGE"]
        .iter()
        .any(|code| errcode.eq_ignore_ascii_case(code))
}

/// How long a `Retry-After` (or `retry_after_ms`) asks us to wait, capped: a server's wrong
/// header must not park a call for hours.
fn retry_after_ms(retry: &RetryAfter) -> u64 {
    let wait = match retry {
        RetryAfter::Delay(d) => *d,
        RetryAfter::DateTime(at) => at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    u64::try_from(wait.as_millis())
        .unwrap_or(u64::MAX)
        .min(MAX_RETRY_AFTER_MS)
}

/// A sentence for an SDK error that happened on this computer (the store, the disk), if it is
/// one.
pub fn local_sentence(err: &matrix_sdk::Error) -> Option<String> {
    use matrix_sdk::Error as E;
    let local = matches!(
        err,
        E::Io(_)
            | E::StateStore(_)
            | E::CryptoStoreError(_)
            | E::EventCacheStore(_)
            | E::MediaStore(_)
            | E::CrossProcessLockError(_)
            | E::BadCryptoStoreState
            | E::NoOlmMachine
    );
    local.then(|| {
        tracing::debug!("local store error: {err:?}");
        store_sentence(disk_problem_in(err), "could not use")
    })
}

fn store_sentence(problem: Option<DiskProblem>, what: &str) -> String {
    match problem {
        Some(DiskProblem::Full) => format!(
            "Vestibule {what} its store on this computer: the disk is full. Free some space and try again."
        ),
        Some(DiskProblem::NotWritable) => {
            format!("Vestibule {what} its store on this computer: its folder is not writable.")
        }
        None => format!(
            "Vestibule {what} its store on this computer; restart it, and see its log if this happens again."
        ),
    }
}

/// What a disk problem somewhere in `err`'s chain of causes is: an I/O error, or SQLite's words
/// for a full disk or a read-only database.
pub fn disk_problem_in(err: &(dyn std::error::Error + 'static)) -> Option<DiskProblem> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(problem) = e.downcast_ref::<std::io::Error>().and_then(DiskProblem::of) {
            return Some(problem);
        }
        let text = e.to_string();
        if text.contains("disk is full") {
            return Some(DiskProblem::Full);
        }
        if text.contains("readonly database") || text.contains("Read-only file system") {
            return Some(DiskProblem::NotWritable);
        }
        next = e.source();
    }
    None
}

/// A sentence for a failure of the own-membership machine or a send.
pub fn failure_sentence(failure: &Failure) -> String {
    match failure {
        Failure::NotFound => "The homeserver no longer knows that request.".to_owned(),
        Failure::RateLimited {
            retry_after_ms: Some(ms),
        } => {
            format!(
                "The homeserver is rate limiting us; retrying in {} s.",
                ms.div_ceil(1000)
            )
        }
        Failure::RateLimited {
            retry_after_ms: None,
        } => "The homeserver is rate limiting us; retrying shortly.".to_owned(),
        Failure::Network => {
            "The homeserver could not be reached; check your connection.".to_owned()
        }
        Failure::Forbidden => "The homeserver did not allow this.".to_owned(),
        Failure::Unsupported => "The homeserver does not support this.".to_owned(),
        Failure::NotInRoom => "You are no longer in this room.".to_owned(),
        Failure::Local(sentence) => sentence.clone(),
        Failure::Other(message) => format!("The homeserver refused: {message}."),
    }
}

/// A sentence for an SDK error.
pub fn sentence(err: &matrix_sdk::Error) -> String {
    tracing::debug!("matrix error: {err:?}");
    failure_sentence(&failure_of(err))
}

/// A sentence for a failed password login.
pub fn login_sentence(err: &matrix_sdk::Error) -> String {
    tracing::debug!("login failed: {err:?}");
    match err.client_api_error_kind() {
        Some(ErrorKind::Forbidden) => "The user name or password is wrong.".to_owned(),
        Some(ErrorKind::UserDeactivated) => "This account has been deactivated.".to_owned(),
        Some(ErrorKind::UnknownToken { .. }) => {
            "The session has expired; sign in again.".to_owned()
        }
        _ => failure_sentence(&failure_of(err)),
    }
}

/// A sentence for a homeserver that could not be found or reached when signing in.
pub fn build_sentence(homeserver: &str, err: &ClientBuildError) -> String {
    tracing::debug!("client build failed: {err:?}");
    match err {
        ClientBuildError::InvalidServerName | ClientBuildError::Url(_) => {
            format!(
                "\"{homeserver}\" is not a homeserver address; use a server name like matrix.org or a URL."
            )
        }
        ClientBuildError::Http(HttpError::Reqwest(_)) | ClientBuildError::AutoDiscovery(_) => {
            format!(
                "Could not reach a Matrix homeserver at {homeserver}; check the address and your connection."
            )
        }
        ClientBuildError::SqliteStore(e) => store_sentence(disk_problem_in(e), "could not open"),
        _ => format!("Could not set up the connection to {homeserver}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_sentences() {
        let cases = [
            (
                Failure::RateLimited {
                    retry_after_ms: Some(11_200),
                },
                "The homeserver is rate limiting us; retrying in 12 s.",
            ),
            (
                Failure::Network,
                "The homeserver could not be reached; check your connection.",
            ),
            (
                Failure::Other("M_UNKNOWN".into()),
                "The homeserver refused: M_UNKNOWN.",
            ),
        ];
        for (failure, sentence) in cases {
            assert_eq!(failure_sentence(&failure), sentence);
        }
    }

    #[test]
    fn error_kinds_map_to_failures() {
        use matrix_sdk::ruma::api::error::LimitExceededErrorData;
        let mut limit = LimitExceededErrorData::new();
        limit.retry_after = Some(RetryAfter::Delay(Duration::from_millis(2_500)));
        assert_eq!(
            failure_of_kind(&ErrorKind::LimitExceeded(limit)),
            Failure::RateLimited {
                retry_after_ms: Some(2_500)
            }
        );
        assert_eq!(failure_of_kind(&ErrorKind::Forbidden), Failure::Forbidden);
        assert_eq!(failure_of_kind(&ErrorKind::NotFound), Failure::NotFound);
        assert_eq!(
            failure_of_kind(&ErrorKind::Unrecognized),
            Failure::Unsupported
        );
        let mut limit = LimitExceededErrorData::new();
        limit.retry_after = Some(RetryAfter::Delay(Duration::from_secs(86_400)));
        assert_eq!(
            failure_of_kind(&ErrorKind::LimitExceeded(limit)),
            Failure::RateLimited {
                retry_after_ms: Some(MAX_RETRY_AFTER_MS)
            },
            "a day's Retry-After is capped"
        );
    }

    fn http_error(status: u16, body: &str) -> HttpError {
        use matrix_sdk::RumaApiError;
        use matrix_sdk::ruma::api::EndpointError;
        use matrix_sdk::ruma::api::error::FromHttpResponseError;
        let response = matrix_sdk::ruma::exports::http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap();
        HttpError::Api(Box::new(FromHttpResponseError::Server(
            RumaApiError::from_http_response(response),
        )))
    }

    #[test]
    fn answers_without_a_matrix_body_and_too_long_delays_mean_unsupported() {
        assert_eq!(failure_of_http(&http_error(404, "")), Failure::Unsupported);
        assert_eq!(
            failure_of_http(&http_error(400, "<html>Bad Request</html>")),
            Failure::Unsupported
        );
        assert_eq!(failure_of_http(&http_error(502, "")), Failure::Network);
        assert_eq!(
            failure_of_http(&http_error(429, "")),
            Failure::RateLimited {
                retry_after_ms: None
            }
        );
        assert_eq!(
            failure_of_http(&http_error(
                404,
                r#"{"errcode":"M_NOT_FOUND","error":"gone"}"#
            )),
            Failure::NotFound,
            "a Matrix 404 is the delayed event being gone"
        );
        for code in ["M_MAX_DELAY_EXCEEDED", "ORG.MATRIX.MSC4140_DELAY_TOO_LARGE"] {
            let body = format!(r#"{{"errcode":"{code}","error":"too long"}}"#);
            assert_eq!(
                failure_of_http(&http_error(400, &body)),
                Failure::Unsupported,
                "{code}"
            );
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("database or disk is full")]
    struct SqliteFull;

    #[test]
    fn local_store_errors_are_not_the_homeservers() {
        let full = matrix_sdk::Error::from(matrix_sdk::StoreError::Backend(Box::new(SqliteFull)));
        let said = sentence(&full);
        assert!(said.contains("the disk is full"), "{said}");
        assert!(!said.contains("homeserver"), "{said}");
        let io = matrix_sdk::Error::Io(std::io::Error::from_raw_os_error(30));
        assert_eq!(
            sentence(&io),
            "Vestibule could not use its store on this computer: its folder is not writable."
        );
        let locked = matrix_sdk::Error::from(matrix_sdk::StoreError::StoreLocked);
        assert!(matches!(failure_of(&locked), Failure::Local(_)));
        assert!(!sentence(&locked).contains("homeserver"));
    }
}
