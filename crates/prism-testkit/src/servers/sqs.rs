//! An SQS-compatible endpoint: moto's server mode (`tools/moto/install.sh`, from PyPI), which
//! KEDA's aws-sqs-queue scaler reaches through its `awsEndpoint` setting.
//!
//! moto routes a request to a service by the credential scope of its `Authorization` header and
//! does not check signatures: requests here carry a well-formed SigV4 header with a dummy
//! signature, as any SDK would send one.

use std::ffi::OsString;

use super::{Launch, ServerError, TestServer, http, root};
use crate::{binaries::MOTO, datadir::DataDir, ports::free_port};

/// The region the queues live in (moto serves every region; KEDA's trigger names one).
pub const SQS_REGION: &str = "us-east-1";

/// A running moto server with its SQS API.
#[derive(Debug)]
pub struct Sqs {
    server: TestServer,
}

impl Sqs {
    /// Starts moto's server on a free port.
    pub async fn start() -> Result<Self, ServerError> {
        let bin = MOTO.locate()?;
        let dir = DataDir::create(&root(), false)?;
        let port = free_port()?;
        let args: Vec<OsString> = ["-H", "127.0.0.1", "-p", &port.to_string()].map(OsString::from).to_vec();
        let launch = Launch::new("moto", port, bin.join("moto_server"), args, dir.path().to_owned());
        Ok(Self { server: TestServer::launch(launch, dir).await? })
    }

    /// The endpoint URL (KEDA's `awsEndpoint`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// The server, to stop and start it.
    pub fn server(&mut self) -> &mut TestServer {
        &mut self.server
    }

    async fn call(&self, what: &str, form: &[(&str, &str)]) -> Result<String, ServerError> {
        let body = http::form(std::iter::once(&("Version", "2012-11-05")).chain(form));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/{SQS_REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0"
        );
        let headers = [("authorization", auth), ("content-type", "application/x-www-form-urlencoded".to_owned())];
        http::request(what, "POST", &format!("{}/", self.endpoint()), &headers, body).await
    }

    /// Creates the queue `name` and returns its URL (KEDA's `queueURL`).
    pub async fn create_queue(&self, name: &str) -> Result<String, ServerError> {
        let answer = self.call("create an SQS queue", &[("Action", "CreateQueue"), ("QueueName", name)]).await?;
        xml_value(&answer, "QueueUrl").ok_or_else(|| ServerError::Setup {
            what: "create an SQS queue".into(),
            message: format!("no QueueUrl in {answer}"),
        })
    }

    /// Sends `count` messages to the queue at `url`.
    pub async fn send(&self, url: &str, count: usize) -> Result<(), ServerError> {
        for i in 0..count {
            let body = format!("job-{i}");
            self.call("send an SQS message", &[("Action", "SendMessage"), ("QueueUrl", url), ("MessageBody", &body)])
                .await?;
        }
        Ok(())
    }

    /// Removes every message from the queue at `url`.
    pub async fn purge(&self, url: &str) -> Result<(), ServerError> {
        self.call("purge an SQS queue", &[("Action", "PurgeQueue"), ("QueueUrl", url)]).await.map(drop)
    }

    /// The queue's `ApproximateNumberOfMessages`.
    pub async fn messages(&self, url: &str) -> Result<u64, ServerError> {
        let answer = self
            .call(
                "read an SQS queue's attributes",
                &[
                    ("Action", "GetQueueAttributes"),
                    ("QueueUrl", url),
                    ("AttributeName.1", "ApproximateNumberOfMessages"),
                ],
            )
            .await?;
        let value = answer
            .split("<Name>ApproximateNumberOfMessages</Name>")
            .nth(1)
            .and_then(|rest| xml_value(rest, "Value"))
            .and_then(|v| v.parse().ok());
        value.ok_or_else(|| ServerError::Setup {
            what: "read an SQS queue's attributes".into(),
            message: format!("no ApproximateNumberOfMessages in {answer}"),
        })
    }
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_answers() {
        assert_eq!(xml_value("<a><QueueUrl>http://x/1/q</QueueUrl></a>", "QueueUrl").as_deref(), Some("http://x/1/q"));
        assert_eq!(xml_value("<a/>", "QueueUrl"), None);
    }
}
