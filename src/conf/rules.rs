//! Consistency rules across options, as nats-server's `validateOptions`:
//! written once, applied to a configuration file (where a broken rule is
//! reported at the entry's position) and to the options the server finally
//! runs with, flags included (`server::Options::validate`).

use std::time::Duration;

/// `max_payload` may not exceed `max_pending`.
///
/// # Errors
///
/// The rule's message.
pub fn payload_within_pending(max_payload: usize, max_pending: usize) -> Result<(), String> {
    if max_payload > max_pending {
        return Err(format!(
            "max_payload ({max_payload}) cannot be higher than max_pending ({max_pending})"
        ));
    }
    Ok(())
}

/// The lame duck grace period must be strictly shorter than its duration.
///
/// # Errors
///
/// The rule's message.
pub fn lame_duck_grace_within_duration(grace: Duration, duration: Duration) -> Result<(), String> {
    if grace >= duration {
        return Err(format!(
            "lame duck grace period ({grace:?}) should be strictly lower than lame \
             duck duration ({duration:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_their_texts() {
        assert!(payload_within_pending(1024, 1024).is_ok());
        assert_eq!(
            payload_within_pending(2048, 1024).unwrap_err(),
            "max_payload (2048) cannot be higher than max_pending (1024)"
        );
        let s = Duration::from_secs;
        assert!(lame_duck_grace_within_duration(s(1), s(2)).is_ok());
        assert!(lame_duck_grace_within_duration(s(2), s(2)).is_err());
    }
}
