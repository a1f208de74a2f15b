//! Turning SDK and HTTP errors into what the protocol core needs ([`Failure`]) and into
//! sentences a person understands. The raw error goes to the debug log, never to the user.

use std::time::{Duration, SystemTime};

use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::{ClientBuildError, HttpError};

use crate::rtc::own::Failure;

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
    /// Restoring or removing the saved session failed, as a sentence.
    #[error("{0}")]
    Session(String),
}

/// Classifies an HTTP error for the own-membership machine.
pub fn failure_of_http(err: &HttpError) -> Failure {
    if let Some(kind) = err.client_api_error_kind() {
        return failure_of_kind(kind);
    }
    match err {
        HttpError::Reqwest(_) => Failure::Network,
        HttpError::Api(_) if status_is_server_error(err) => Failure::Network,
        other => Failure::Other(other.to_string()),
    }
}

/// Classifies an SDK error for the own-membership machine.
pub fn failure_of(err: &matrix_sdk::Error) -> Failure {
    match err {
        matrix_sdk::Error::Http(http) => failure_of_http(http),
        other => Failure::Other(other.to_string()),
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
        other => Failure::Other(other.errcode().to_string()),
    }
}

fn retry_after_ms(retry: &RetryAfter) -> u64 {
    let wait = match retry {
        RetryAfter::Delay(d) => *d,
        RetryAfter::DateTime(at) => at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

fn status_is_server_error(err: &HttpError) -> bool {
    err.as_client_api_error()
        .is_some_and(|e| e.status_code.is_server_error())
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
    }
}
