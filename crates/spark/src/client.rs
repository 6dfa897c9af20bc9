//! One Spark Connect session: SQL statements in, polars frames out.
//!
//! Every statement is an `ExecutePlan` of a `SQL` relation in one session (so temporary
//! views made by one statement are seen by the next). Results come back as Arrow IPC
//! streams and are read by polars' own Arrow reader into polars frames, so what Spark
//! returns goes through the same finding code as a local run's rows.

use crate::proto::{
    EXECUTE_PLAN, ExecutePlanRequest, ExecutePlanResponse, Plan, Relation, Sql, UserContext,
};
use crate::remote::Remote;
use polars::prelude::*;
use polars_arrow::io::ipc::read::{StreamReader, StreamState, read_stream_metadata};
use secrecy::ExposeSecret;
use std::io::Cursor;
use std::str::FromStr;
use std::time::Duration;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// A result can be large (the failing rows of a rule); tonic's default is 4 MiB.
const MAX_MESSAGE: usize = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SparkError {
    #[error("cannot reach Spark Connect at {remote}: {reason}")]
    Connect { remote: String, reason: String },
    #[error("Spark Connect at {remote} refused the call: {reason}")]
    Refused { remote: String, reason: String },
    #[error("{reason}")]
    Statement { reason: String },
    #[error("Spark's result could not be read: {0}")]
    Decode(String),
}

/// A session on a Spark Connect server.
pub struct SparkSession {
    remote: Remote,
    channel: Channel,
    session_id: String,
    user: UserContext,
    headers: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
}

impl SparkSession {
    /// Connects (within 30 s) and opens a session: a fresh one, or the address's
    /// `session_id`.
    pub async fn connect(remote: Remote) -> Result<SparkSession, SparkError> {
        let connect_error = |reason: String| SparkError::Connect {
            remote: remote.to_string(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(remote.endpoint())
            .map_err(|e| connect_error(e.to_string()))?
            .connect_timeout(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(30));
        if let Some(agent) = &remote.user_agent {
            endpoint = endpoint
                .user_agent(agent.clone())
                .map_err(|e| connect_error(e.to_string()))?;
        }
        if remote.tls() {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|e| connect_error(e.to_string()))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| connect_error(error_chain(&e)))?;
        let mut headers = Vec::new();
        for (key, value) in &remote.headers {
            let key = AsciiMetadataKey::from_str(key)
                .map_err(|_| connect_error(format!("`{key}` cannot be a gRPC header")))?;
            let value = AsciiMetadataValue::from_str(value).map_err(|_| {
                connect_error(format!("the value of `{key}` cannot be a gRPC header"))
            })?;
            headers.push((key, value));
        }
        if let Some(token) = &remote.token {
            let mut value =
                AsciiMetadataValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| connect_error("the token cannot be a gRPC header".into()))?;
            value.set_sensitive(true);
            headers.push((AsciiMetadataKey::from_static("authorization"), value));
        }
        let user_id = remote.user_id.clone().unwrap_or_else(|| "recon".into());
        Ok(SparkSession {
            session_id: remote
                .session_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            user: UserContext {
                user_name: user_id.clone(),
                user_id,
            },
            remote,
            channel,
            headers,
        })
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Runs one SQL statement and returns its rows (an empty frame for a statement that
    /// returns none, such as `CREATE TEMPORARY VIEW`).
    pub async fn sql(&self, query: &str) -> Result<DataFrame, SparkError> {
        let started = std::time::Instant::now();
        let result = self.execute(query).await;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            rows = result.as_ref().map_or(0, DataFrame::height),
            statement = %query.chars().take(120).collect::<String>(),
            "spark"
        );
        result
    }

    async fn execute(&self, query: &str) -> Result<DataFrame, SparkError> {
        let message = ExecutePlanRequest {
            session_id: self.session_id.clone(),
            user_context: Some(self.user.clone()),
            plan: Some(Plan {
                root: Some(Relation {
                    sql: Some(Sql {
                        query: query.to_string(),
                    }),
                }),
            }),
            client_type: Some(format!("recon/{}", env!("CARGO_PKG_VERSION"))),
            operation_id: None,
        };
        let mut request = tonic::Request::new(message);
        for (key, value) in &self.headers {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready().await.map_err(|e| SparkError::Connect {
            remote: self.remote.to_string(),
            reason: e.to_string(),
        })?;
        let codec = tonic_prost::ProstCodec::<ExecutePlanRequest, ExecutePlanResponse>::default();
        let mut stream = grpc
            .server_streaming(request, PathAndQuery::from_static(EXECUTE_PLAN), codec)
            .await
            .map_err(|s| self.status_error(s))?
            .into_inner();
        let mut frames = Vec::new();
        while let Some(response) = stream.message().await.map_err(|s| self.status_error(s))? {
            if let Some(batch) = response.arrow_batch {
                frames.extend(read_arrow_stream(&batch.data)?);
            }
        }
        concat(frames)
    }

    fn status_error(&self, status: tonic::Status) -> SparkError {
        match status.code() {
            tonic::Code::Unavailable
            | tonic::Code::Unauthenticated
            | tonic::Code::PermissionDenied => SparkError::Refused {
                remote: self.remote.to_string(),
                reason: format!("{:?}: {}", status.code(), first_line(status.message())),
            },
            // Spark's own error (an analysis error names the column or view at fault).
            _ => SparkError::Statement {
                reason: first_line(status.message()).to_string(),
            },
        }
    }
}

/// Spark puts the statement, or a JVM stack, under its messages (and some start with a
/// blank line); the first line with text says what failed.
fn first_line(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(Spark gave no reason)")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One Arrow IPC stream (what one `ArrowBatch` carries) as polars frames.
pub fn read_arrow_stream(data: &[u8]) -> Result<Vec<DataFrame>, SparkError> {
    let decode = |e: PolarsError| SparkError::Decode(e.to_string());
    let mut cursor = Cursor::new(data);
    let metadata = read_stream_metadata(&mut cursor).map_err(decode)?;
    let schema = metadata.schema.clone();
    let mut frames = Vec::new();
    for state in StreamReader::new(cursor, metadata, None) {
        match state.map_err(decode)? {
            StreamState::Some(batch) => {
                let height = batch.height();
                let columns = batch
                    .into_arrays()
                    .into_iter()
                    .zip(schema.iter_names())
                    .map(|(array, name)| Series::from_arrow(name.clone(), array).map(Column::from))
                    .collect::<PolarsResult<Vec<_>>>()
                    .map_err(decode)?;
                frames.push(DataFrame::new(height, columns).map_err(decode)?);
            }
            StreamState::Waiting => break,
        }
    }
    if frames.is_empty() {
        // A result with no rows still says its columns.
        frames.push(DataFrame::empty_with_schema(&Schema::from_arrow_schema(
            &schema,
        )));
    }
    Ok(frames)
}

fn concat(frames: Vec<DataFrame>) -> Result<DataFrame, SparkError> {
    let mut frames = frames.into_iter();
    let Some(mut all) = frames.next() else {
        return Ok(DataFrame::empty());
    };
    for frame in frames {
        all.vstack_mut_owned(frame)
            .map_err(|e| SparkError::Decode(e.to_string()))?;
    }
    Ok(all)
}
