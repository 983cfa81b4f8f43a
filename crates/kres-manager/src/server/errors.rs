//! Errors as HTTP responses: a status and the contract's text body ([`ErrorBody`]) that says what failed (and, for
//! validation, every error with its path). A client mistake is never a 500.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::errors::{self, ErrorBody};

use crate::manager::handle::ApplyError;

/// An error response.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The configuration's current ETag, sent on every `/v1/config` response.
    pub etag: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), etag: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn with_etag(mut self, etag: &str) -> Self {
        self.etag = Some(etag.to_owned());
        self
    }
}

/// The status an apply error maps to.
pub fn status_of(error: &ApplyError) -> StatusCode {
    match error {
        ApplyError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ApplyError::NotFound(_) => StatusCode::NOT_FOUND,
        ApplyError::BadRequest(_) | ApplyError::Invalid(_) | ApplyError::Load(_) => StatusCode::BAD_REQUEST,
        ApplyError::Forbidden(_) => StatusCode::CONFLICT,
        ApplyError::Rejected { .. } | ApplyError::RolledBack { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ApplyError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ApplyError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<ApplyError> for ApiError {
    fn from(error: ApplyError) -> Self {
        let status = status_of(&error);
        let message = match &error {
            ApplyError::PreconditionFailed => {
                "the configuration has changed since the ETag given in If-Match / If-None-Match; nothing was \
                 applied. GET the configuration again for the current ETag."
                    .to_owned()
            }
            ApplyError::Invalid(errors) => format!("{errors}\nNothing was applied."),
            ApplyError::Forbidden(reasons) => {
                format!("this change cannot be made while the resolver runs; nothing was applied:\n{reasons}")
            }
            ApplyError::Rejected { .. } => {
                format!("{error}\nNothing was applied: the configuration and the workers are unchanged.")
            }
            ApplyError::Load(message) => {
                format!("cannot load the configuration files: {message}\nThe configuration has NOT been changed.")
            }
            ApplyError::Failed(message) => format!("applying the configuration failed: {message}"),
            ApplyError::NotFound(message) | ApplyError::BadRequest(message) => message.clone(),
            ApplyError::ShuttingDown | ApplyError::RolledBack { .. } => error.to_string(),
        };
        ApiError::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.message).into_string();
        let mut response = (self.status, [(header::CONTENT_TYPE, errors::CONTENT_TYPE)], body).into_response();
        if let Some(etag) = self.etag {
            super::set_etag(&mut response, &etag);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use kres_datamodel::path::Path;
    use kres_datamodel::{ValidationError, ValidationErrors};

    use super::*;

    #[test]
    fn every_apply_error_has_its_status() {
        let cases = [
            (ApplyError::PreconditionFailed, 412),
            (ApplyError::NotFound("x".into()), 404),
            (ApplyError::BadRequest("x".into()), 400),
            (ApplyError::Invalid(ValidationErrors(vec![])), 400),
            (ApplyError::Forbidden("x".into()), 409),
            (ApplyError::Rejected { stage: "the canary kresd", message: "x".into(), output: vec![] }, 422),
            (ApplyError::Load("x".into()), 400),
            (ApplyError::RolledBack { reason: "x".into(), lost_queries: 0 }, 422),
            (ApplyError::Failed("x".into()), 500),
            (ApplyError::ShuttingDown, 503),
        ];
        for (error, status) in cases {
            assert_eq!(status_of(&error).as_u16(), status, "{error:?}");
        }
    }

    #[test]
    fn validation_errors_list_every_path() {
        let errors = ValidationErrors(vec![
            ValidationError { path: Path::root().key("workers"), message: "bad count".into(), mark: None },
            ValidationError { path: Path::root().key("cache").key("size-max"), message: "bad size".into(), mark: None },
        ]);
        let api = ApiError::from(ApplyError::Invalid(errors));
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        assert!(api.message.contains("[/workers] bad count"), "{}", api.message);
        assert!(api.message.contains("[/cache/size-max] bad size"), "{}", api.message);
    }

    #[test]
    fn rejected_carries_kresd_output() {
        let api = ApiError::from(ApplyError::Rejected {
            stage: "the canary kresd",
            message: "exited with code 1".into(),
            output: vec!["[system] error while loading config: boom".into()],
        });
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(api.message.contains("boom") && api.message.contains("Nothing was applied"), "{}", api.message);
    }
}
