//! Who may attach to a process, or send it commands: its own user, and root any.
//! Unknown owners pass: the segment file's own ownership check still applies.

use crate::error::InspectError;
use crate::procfs;

/// Refuses process `pid` when another user owns it (see the module docs).
pub fn check(pid: u32) -> Result<(), InspectError> {
    check_owner(pid, procfs::owner(pid), procfs::my_uid())
}

/// [`check`] with the process's `owner` and the caller's uid `me` given.
fn check_owner(pid: u32, owner: Option<u32>, me: Option<u32>) -> Result<(), InspectError> {
    match (owner, me) {
        (Some(owner), Some(me)) if owner != me && me != 0 => Err(InspectError::NotYours {
            pid,
            owner: procfs::user_name(owner),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_users_process_is_refused_in_one_line() {
        let e = check_owner(1, Some(0), Some(1000)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "process 1 belongs to root; alloc-inspect only attaches to your own processes"
        );
        assert!(check_owner(1, Some(1000), Some(1000)).is_ok());
        assert!(
            check_owner(1, Some(1000), Some(0)).is_ok(),
            "root may attach"
        );
        assert!(check_owner(1, None, Some(1000)).is_ok());
    }
}
