//! One HTTP/1.1 request to a server on loopback (brokers' HTTP APIs), with hyper.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use super::ServerError;

/// Sends `method url` with `headers` and `body`; returns the status code and the body. A status
/// outside 2xx is an error naming `what`, with the server's answer.
pub(crate) async fn request(
    what: &str,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: String,
) -> Result<String, ServerError> {
    let failed = |message: String| ServerError::Setup { what: what.to_owned(), message };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(Full::new(Bytes::from(body))).map_err(|e| failed(e.to_string()))?;
    let response = client.request(request).await.map_err(|e| failed(format!("{method} {url}: {e}")))?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|e| failed(e.to_string()))?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() { Ok(body) } else { Err(failed(format!("{method} {url}: {status}: {body}"))) }
}

/// An `application/x-www-form-urlencoded` body (or query string) of `pairs`.
pub(crate) fn form<'a>(pairs: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The `Authorization` value of HTTP basic authentication.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form(&[("QueueUrl", "http://127.0.0.1:1/q"), ("query", "sum(x{a=\"b\"})")]),
            "QueueUrl=http%3A%2F%2F127.0.0.1%3A1%2Fq&query=sum%28x%7Ba%3D%22b%22%7D%29"
        );
    }
}
