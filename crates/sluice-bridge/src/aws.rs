//! AWS clients and how their errors are read.

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::batch::{CallError, EntryStatus};

/// Error codes that mean "slow down". Query-protocol codes
/// (`AWS.SimpleQueueService.RequestThrottled`) are compared by their last
/// part.
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

/// Error codes that refuse a request for its content: its entries are sent
/// again one per call, so that only the bad ones are dead-lettered.
const CONTENT: &[&str] = &[
    "ValidationException",
    "InvalidArgument",
    "InvalidParameterValue",
    "InvalidParameterException",
    "InvalidParameterCombination",
    "MissingParameter",
    "InvalidMessageContents",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "BatchRequestTooLong",
    "InvalidBatchEntryId",
    "BatchEntryIdsNotDistinct",
    "TooManyEntriesInBatchRequest",
];

/// Entry error codes worth another try.
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "InternalException",
    "InternalError",
    "ServiceUnavailable",
];

fn short(code: &str) -> &str {
    code.rsplit('.').next().unwrap_or(code)
}

pub(crate) fn is_throttling(code: &str) -> bool {
    THROTTLING.contains(&short(code))
}

/// What a failed call means for its entries.
pub(crate) fn call_error<E, R>(error: &SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(error).to_string();
    let SdkError::ServiceError(service) = error else {
        return CallError::Unavailable(detail);
    };
    let code = service.err().code().unwrap_or("Unknown");
    let message = service.err().message().unwrap_or_default().to_owned();
    if is_throttling(code) {
        CallError::Throttled(format!("{code}: {message}"))
    } else if CONTENT.contains(&short(code)) {
        CallError::Rejected {
            code: short(code).to_owned(),
            message,
        }
    } else {
        CallError::Unavailable(detail)
    }
}

/// An entry error code from EventBridge (which has no sender/receiver
/// flag): throttling, transient, or final.
pub(crate) fn entry_error(code: &str, message: &str) -> EntryStatus {
    if is_throttling(code) {
        EntryStatus::Throttled
    } else {
        EntryStatus::Failed {
            code: short(code).to_owned(),
            message: message.to_owned(),
            retriable: TRANSIENT.contains(&short(code)),
        }
    }
}
