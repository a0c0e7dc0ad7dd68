//! RabbitMQ: the AMQP 0-9-1 protocol header, answered by a Connection.Start method frame.
//!
//! The exchange stops there (before Start-Ok), so credentials are not checked: the check proves
//! that an AMQP 0-9-1 broker is listening and accepts new connections.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CONNECTION_FAILED, Health, PROTOCOL_ERROR, Target, connect};

/// The protocol header a client sends first.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
const FRAME_METHOD: u8 = 1;
const FRAME_END: u8 = 0xCE;
const CLASS_CONNECTION: u16 = 10;
const METHOD_START: u16 = 10;
/// Largest Connection.Start frame accepted.
const MAX_FRAME: usize = 128 * 1024;

/// Checks a frame header (7 bytes) and returns the payload size.
pub fn parse_frame_header(header: &[u8; 7]) -> Result<usize, String> {
    if header.starts_with(b"AMQP") {
        return Err("the broker does not speak AMQP 0-9-1 (it answered with its own protocol header)".to_owned());
    }
    if header[0] != FRAME_METHOD {
        return Err(format!("expected a method frame, got frame type {}", header[0]));
    }
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
    if !(6..=MAX_FRAME).contains(&size) {
        return Err(format!("implausible frame size {size}"));
    }
    Ok(size)
}

/// Checks a method payload (plus its frame-end byte) is Connection.Start; returns the version.
pub fn parse_start(payload: &[u8]) -> Result<(u8, u8), String> {
    let (body, end) = payload.split_at(payload.len().saturating_sub(1));
    if end != [FRAME_END] {
        return Err("frame does not end with 0xCE".to_owned());
    }
    if body.len() < 6 {
        return Err("method frame too short".to_owned());
    }
    let class = u16::from_be_bytes([body[0], body[1]]);
    let method = u16::from_be_bytes([body[2], body[3]]);
    if (class, method) != (CLASS_CONNECTION, METHOD_START) {
        return Err(format!("expected Connection.Start (10.10), got method {class}.{method}"));
    }
    Ok((body[4], body[5]))
}

/// One check.
pub async fn check(target: &Target) -> Health {
    let address = target.endpoint.address();
    let mut stream = match connect(target).await {
        Ok(s) => s,
        Err(h) => return h,
    };
    let io = async {
        stream.write_all(PROTOCOL_HEADER).await?;
        stream.flush().await?;
        let mut header = [0u8; 7];
        stream.read_exact(&mut header).await?;
        Ok::<_, std::io::Error>(header)
    };
    let header = match io.await {
        Ok(h) => h,
        Err(e) => {
            return Health::unhealthy(
                CONNECTION_FAILED,
                format!("rabbitmq at {address}: no answer to the AMQP header: {e}"),
            );
        }
    };
    let size = match parse_frame_header(&header) {
        Ok(size) => size,
        Err(e) => return Health::unhealthy(PROTOCOL_ERROR, format!("rabbitmq at {address}: {e}")),
    };
    let mut payload = vec![0; size + 1];
    if let Err(e) = stream.read_exact(&mut payload).await {
        return Health::unhealthy(CONNECTION_FAILED, format!("rabbitmq at {address}: truncated Connection.Start: {e}"));
    }
    match parse_start(&payload) {
        Ok((major, minor)) => Health::Healthy(format!(
            "rabbitmq at {address} answered the AMQP header with Connection.Start ({major}-{minor})"
        )),
        Err(e) => Health::unhealthy(PROTOCOL_ERROR, format!("rabbitmq at {address}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_frame() -> Vec<u8> {
        let mut payload = vec![0, 10, 0, 10, 0, 9];
        payload.extend([0, 0, 0, 0]); // empty server-properties table
        payload.extend([0, 0, 0, 5]);
        payload.extend(b"PLAIN");
        payload.extend([0, 0, 0, 5]);
        payload.extend(b"en_US");
        let mut frame = vec![FRAME_METHOD, 0, 0];
        frame.extend((payload.len() as u32).to_be_bytes());
        frame.extend(payload);
        frame.push(FRAME_END);
        frame
    }

    #[test]
    fn frames_are_checked() {
        let f = start_frame();
        let header: [u8; 7] = f[..7].try_into().expect("7 bytes");
        let size = parse_frame_header(&header).expect("header");
        assert_eq!(parse_start(&f[7..7 + size + 1]), Ok((0, 9)));
        assert!(parse_frame_header(b"AMQP\x00\x00\x09").is_err());
        assert!(parse_frame_header(&[3, 0, 0, 0, 0, 0, 8]).is_err());
        let mut wrong = f[7..].to_vec();
        wrong[3] = 11;
        assert!(parse_start(&wrong).is_err());
    }

    #[tokio::test]
    async fn a_fake_broker_is_healthy() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut header = [0u8; 8];
            s.read_exact(&mut header).await.expect("read");
            assert_eq!(&header, PROTOCOL_HEADER);
            s.write_all(&start_frame()).await.expect("write");
        });
        let target = super::super::tests_support::target(prism_api::v1alpha1::BackendProvider::Rabbitmq, port);
        let health = super::super::check(&target).await;
        assert!(matches!(health, Health::Healthy(ref m) if m.contains("Connection.Start")), "{health:?}");
    }
}
