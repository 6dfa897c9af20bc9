//! The few Spark Connect messages recon sends and reads, as prost structs written by hand.
//!
//! Field numbers are the ones of Apache Spark's `spark/connect/base.proto` and
//! `relations.proto` (package `spark.connect`, stable since Spark 3.4). Protobuf lets a
//! reader skip fields it does not know, so a message here may carry a subset of the real
//! one's fields: the server ignores nothing it needs, and the fields of a response recon does
//! not read (metrics, schema, progress) are skipped on decode. A `oneof` member is encoded
//! as a plain optional field with the same number, which is the same bytes on the wire.
//! Writing them by hand avoids `protoc` and a build script for 5 of the protocol's ~400
//! messages.

/// The service's path prefix: `/spark.connect.SparkConnectService/<Method>`.
pub const EXECUTE_PLAN: &str = "/spark.connect.SparkConnectService/ExecutePlan";

/// `spark.connect.UserContext`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserContext {
    #[prost(string, tag = "1")]
    pub user_id: String,
    #[prost(string, tag = "2")]
    pub user_name: String,
}

/// `spark.connect.SQL`: a relation defined by one SQL statement.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sql {
    #[prost(string, tag = "1")]
    pub query: String,
}

/// `spark.connect.Relation`, with only its `sql` member (oneof `rel_type`, field 10).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Relation {
    #[prost(message, optional, tag = "10")]
    pub sql: Option<Sql>,
}

/// `spark.connect.Plan`, with only its `root` member (oneof `op_type`, field 1).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Plan {
    #[prost(message, optional, tag = "1")]
    pub root: Option<Relation>,
}

/// `spark.connect.ExecutePlanRequest`. Without reattach options the execution is not
/// reattachable: the server streams every result and then ends the call.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutePlanRequest {
    #[prost(string, tag = "1")]
    pub session_id: String,
    #[prost(message, optional, tag = "2")]
    pub user_context: Option<UserContext>,
    #[prost(message, optional, tag = "3")]
    pub plan: Option<Plan>,
    #[prost(string, optional, tag = "4")]
    pub client_type: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub operation_id: Option<String>,
}

/// `spark.connect.ExecutePlanResponse`: recon reads its Arrow batches.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutePlanResponse {
    #[prost(string, tag = "1")]
    pub session_id: String,
    #[prost(message, optional, tag = "2")]
    pub arrow_batch: Option<ArrowBatch>,
    #[prost(string, tag = "12")]
    pub operation_id: String,
}

/// `spark.connect.ExecutePlanResponse.ArrowBatch`: `data` is a whole Arrow IPC stream
/// (schema, record batches, end marker) holding `row_count` rows.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrowBatch {
    #[prost(int64, tag = "1")]
    pub row_count: i64,
    #[prost(bytes = "bytes", tag = "2")]
    pub data: bytes::Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_sql_plan_is_the_bytes_protoc_would_write() {
        // Plan{root: Relation{sql: SQL{query: "SELECT 1"}}}: field 1 (len 12) → field 10
        // (len 10) → field 1 (len 8) "SELECT 1". Written out from the proto's numbers so a
        // wrong tag in the structs above shows here, not as a server error.
        let plan = Plan {
            root: Some(Relation {
                sql: Some(Sql {
                    query: "SELECT 1".into(),
                }),
            }),
        };
        let mut expected = vec![0x0a, 12, 0x52, 10, 0x0a, 8];
        expected.extend_from_slice(b"SELECT 1");
        assert_eq!(plan.encode_to_vec(), expected);
    }

    #[test]
    fn unknown_response_fields_are_skipped() {
        // A response with a schema (field 7) and metrics (field 4) recon does not read,
        // around an Arrow batch of 3 rows.
        let mut bytes = vec![0x3a, 2, 0x08, 0x01, 0x22, 0];
        let batch = ArrowBatch {
            row_count: 3,
            data: bytes::Bytes::from_static(b"arrow"),
        };
        let encoded = batch.encode_to_vec();
        bytes.push(0x12);
        bytes.push(encoded.len() as u8);
        bytes.extend_from_slice(&encoded);
        let response = ExecutePlanResponse::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(response.arrow_batch, Some(batch));
    }
}
