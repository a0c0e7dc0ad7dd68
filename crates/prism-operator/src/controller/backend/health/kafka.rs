//! Kafka: an ApiVersions (v0) request, answered by the broker's supported API ranges.
//!
//! ApiVersions is the first request every Kafka client sends and needs no authentication, so a
//! dozen lines of framing replace a full client here (SASL credentials are not checked).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CONNECTION_FAILED, Health, PROTOCOL_ERROR, Target, connect};

const API_VERSIONS: i16 = 18;
const CORRELATION_ID: i32 = 0x5052_4953; // "PRIS"
const CLIENT_ID: &str = "prism-operator";
/// Largest answer accepted (an ApiVersions answer is well under 1 KiB).
const MAX_RESPONSE: usize = 64 * 1024;

/// The ApiVersions v0 request, size-prefixed.
pub fn request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    body.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    body.extend_from_slice(CLIENT_ID.as_bytes());
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// Number of APIs in an ApiVersions v0 answer (without its size prefix).
pub fn parse_response(body: &[u8]) -> Result<usize, String> {
    let i16_at = |i: usize| body.get(i..i + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let i32_at = |i: usize| body.get(i..i + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let correlation = i32_at(0).ok_or("answer too short")?;
    if correlation != CORRELATION_ID {
        return Err(format!("answer has correlation id {correlation}, expected {CORRELATION_ID}"));
    }
    let error = i16_at(4).ok_or("answer too short")?;
    if error != 0 {
        return Err(format!("ApiVersions failed with error code {error}"));
    }
    let count = i32_at(6).ok_or("answer too short")?;
    let count = usize::try_from(count).map_err(|_| "negative API count".to_owned())?;
    if count == 0 || body.len() < 10 + count * 6 {
        return Err(format!("answer lists {count} APIs but is {} bytes", body.len()));
    }
    Ok(count)
}

/// One check.
pub async fn check(target: &Target) -> Health {
    let address = target.endpoint.address();
    let mut stream = match connect(target).await {
        Ok(s) => s,
        Err(h) => return h,
    };
    let io = async {
        stream.write_all(&request()).await?;
        stream.flush().await?;
        let size = stream.read_i32().await?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > MAX_RESPONSE {
            return Err(std::io::Error::other(format!("answer of {size} bytes")));
        }
        let mut body = vec![0; size];
        stream.read_exact(&mut body).await?;
        Ok(body)
    };
    match io.await {
        Err(e) => Health::unhealthy(CONNECTION_FAILED, format!("kafka at {address}: no ApiVersions answer: {e}")),
        Ok(body) => match parse_response(&body) {
            Ok(n) => Health::Healthy(format!("kafka at {address} answered ApiVersions ({n} APIs)")),
            Err(e) => Health::unhealthy(PROTOCOL_ERROR, format!("kafka at {address}: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(correlation: i32, error: i16, apis: &[(i16, i16, i16)]) -> Vec<u8> {
        let mut b = correlation.to_be_bytes().to_vec();
        b.extend(error.to_be_bytes());
        b.extend((apis.len() as i32).to_be_bytes());
        for (k, min, max) in apis {
            b.extend(k.to_be_bytes());
            b.extend(min.to_be_bytes());
            b.extend(max.to_be_bytes());
        }
        b
    }

    #[test]
    fn request_is_api_versions_v0() {
        let r = request();
        assert_eq!(&r[..4], &((r.len() - 4) as i32).to_be_bytes());
        assert_eq!(&r[4..8], &[0, 18, 0, 0]);
        assert!(r.ends_with(b"prism-operator"));
    }

    #[test]
    fn answers_are_checked() {
        assert_eq!(parse_response(&answer(CORRELATION_ID, 0, &[(0, 0, 9), (18, 0, 3)])), Ok(2));
        assert!(parse_response(&answer(7, 0, &[(0, 0, 9)])).is_err());
        assert!(parse_response(&answer(CORRELATION_ID, 35, &[])).is_err());
        assert!(parse_response(&answer(CORRELATION_ID, 0, &[])).is_err());
        assert!(parse_response(&[0, 1]).is_err());
    }

    #[tokio::test]
    async fn a_fake_broker_is_healthy() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = vec![0; request().len()];
            s.read_exact(&mut req).await.expect("read");
            assert_eq!(req, request());
            let body = answer(CORRELATION_ID, 0, &[(18, 0, 3)]);
            s.write_all(&(body.len() as i32).to_be_bytes()).await.expect("write");
            s.write_all(&body).await.expect("write");
        });
        let target = super::super::tests_support::target(prism_api::v1alpha1::BackendProvider::Kafka, port);
        assert!(matches!(super::super::check(&target).await, Health::Healthy(ref m) if m.contains("ApiVersions")),);
    }
}
