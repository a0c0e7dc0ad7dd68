//! Free loopback ports for the components. Every port is picked at run time so that several
//! control planes (in one process or many) can run side by side; nothing is fixed.

use std::{
    collections::HashSet,
    net::{Ipv4Addr, TcpListener},
    sync::Mutex,
};

use crate::Error;

/// Ports this process already handed out; the kernel may offer a port again once its probe
/// listener is closed, and two components of ours must never get the same one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
const MAX_ATTEMPTS: usize = 64;

/// A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed out
/// before. Another process may still take it before the component binds it; that shows up as
/// an early exit of the component with "address already in use" in its log.
pub(crate) fn free_port() -> Result<u16, Error> {
    for _ in 0..MAX_ATTEMPTS {
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map_err(Error::PickPort)?.port();
        let mut guard =
            HANDED_OUT.lock().map_err(|_| Error::PickPort(std::io::Error::other("port registry lock poisoned")))?;
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err(Error::PickPort(std::io::Error::other("the kernel kept offering ports this process already uses")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
    }
}
