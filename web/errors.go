package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// apiError is an error with everything the client is told: status, a stable machine code and a
// message in English and Chinese. web's own failures are apiErrors; errors from the domain are
// turned into one by classify.
type apiError struct {
	status int
	code   string
	en, zh string
	fields []ingest.FieldError
	err    error // the cause, for logs; never shown to the client
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.code + ": " + e.err.Error()
	}
	return e.code + ": " + e.en
}

func (e *apiError) Unwrap() error { return e.err }

// with returns a copy of e that carries cause for the logs.
func (e *apiError) with(cause error) *apiError {
	c := *e
	c.err = cause
	return &c
}

// web's own failures. Their codes are part of the API: the console and clients branch on them.
var (
	errNoRoute         = &apiError{status: http.StatusNotFound, code: "not_found", en: "no such resource", zh: "资源不存在"}
	errNoMethod        = &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", en: "method not allowed on this resource", zh: "该资源不支持此请求方法"}
	errUnauthenticated = &apiError{status: http.StatusUnauthorized, code: "unauthenticated", en: "log in or present an API key", zh: "请先登录或提供 API 密钥"}
	errSessionExpired  = &apiError{status: http.StatusUnauthorized, code: "session_expired", en: "your session has expired; log in again", zh: "会话已过期，请重新登录"}
	errBadAPIKey       = &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", en: "the API key is not valid", zh: "API 密钥无效"}
	errBadCredentials  = &apiError{status: http.StatusUnauthorized, code: "invalid_credentials", en: "wrong user name or password", zh: "用户名或密码错误"}
	errLockedOut       = &apiError{status: http.StatusTooManyRequests, code: "too_many_attempts", en: "too many failed logins; try again later", zh: "登录失败次数过多，请稍后再试"}
	errRole            = &apiError{status: http.StatusForbidden, code: "forbidden", en: "your role does not allow this", zh: "您的角色无权执行此操作"}
	errCSRF            = &apiError{status: http.StatusForbidden, code: "csrf", en: "missing or wrong X-CSRF-Token header", zh: "缺少或错误的 X-CSRF-Token 请求头"}
	errOtherPort       = &apiError{status: http.StatusForbidden, code: "forbidden", en: "this belongs to another port", zh: "该记录属于其他口岸"}
	errMediaType       = &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", en: "send Content-Type: application/json", zh: "请使用 Content-Type: application/json"}
	errTooLarge        = &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", en: "request body too large", zh: "请求体过大"}
	errBadJSON         = &apiError{status: http.StatusBadRequest, code: "bad_request", en: "the body is not valid JSON", zh: "请求体不是有效的 JSON"}
	errBadQuery        = &apiError{status: http.StatusBadRequest, code: "bad_request", en: "invalid query parameter", zh: "查询参数无效"}
	errNotFound        = &apiError{status: http.StatusNotFound, code: "not_found", en: "not found", zh: "未找到"}
	errConflict        = &apiError{status: http.StatusConflict, code: "conflict", en: "someone else changed this first; reload and try again", zh: "记录已被他人修改，请刷新后重试"}
	errState           = &apiError{status: http.StatusConflict, code: "invalid_state", en: "not allowed in the current state", zh: "当前状态下不允许此操作"}
	errNotConfigured   = &apiError{status: http.StatusServiceUnavailable, code: "unavailable", en: "this service is not configured on this server", zh: "该服务未在本服务器上配置"}
	errUnavailable     = &apiError{status: http.StatusServiceUnavailable, code: "unavailable", en: "the analytics store (ClickHouse) is unavailable; try again shortly", zh: "分析库（ClickHouse）暂不可用，请稍后重试"}
	errNoHistory       = &apiError{status: http.StatusNotFound, code: "insufficient_history", en: "a forecast needs at least 28 days of history at this port", zh: "该口岸历史数据不足 28 天，无法预测"}
	errTimeout         = &apiError{status: http.StatusGatewayTimeout, code: "timeout", en: "the request took too long", zh: "请求超时"}
	errCancelled       = &apiError{status: 499, code: "cancelled", en: "the request was cancelled", zh: "请求已取消"}
	errInternal        = &apiError{status: http.StatusInternalServerError, code: "internal", en: "internal error; quote the request ID when reporting it", zh: "内部错误，报告时请提供请求编号"}
)

// classify maps any error to what the client is told. It is the only place that chooses a
// status code from an error.
func classify(err error) *apiError {
	var ae *apiError
	var ve *ingest.ValidationError
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		e := &apiError{status: http.StatusUnprocessableEntity, code: "invalid",
			en: "invalid " + ve.Kind, zh: "数据校验未通过", fields: ve.Fields, err: err}
		return e
	case errors.As(err, &mbe):
		return errTooLarge.with(err)
	case errors.As(err, &te):
		// A value of the wrong JSON type is a field-level problem the client can fix.
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid", en: "invalid request",
			zh: "数据校验未通过", err: err, fields: []ingest.FieldError{{Path: te.Field, Code: "type",
				EN: "must be a " + te.Type.String() + ", not a JSON " + te.Value,
				ZH: "类型错误，应为 " + te.Type.String()}}}
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errBadJSON.with(err)
	case errors.Is(err, clearance.ErrNotFound):
		return errNotFound.with(err)
	case errors.Is(err, clearance.ErrConflict):
		return errConflict.with(err)
	case errors.Is(err, clearance.ErrForbidden):
		return errRole.with(err)
	case errors.Is(err, clearance.ErrState):
		return errState.with(err)
	case errors.Is(err, targeting.ErrNotFound):
		return errNotFound.with(err)
	case errors.Is(err, targeting.ErrConflict):
		return errConflict.with(err)
	case errors.Is(err, targeting.ErrForbidden):
		return errRole.with(err)
	case errors.Is(err, analytics.ErrUnavailable):
		return errUnavailable.with(err)
	case errors.Is(err, analytics.ErrNotFound):
		return errNotFound.with(err)
	case errors.Is(err, analytics.ErrInvalid):
		return errBadQuery.with(err)
	case errors.Is(err, analytics.ErrState):
		return errState.with(err)
	case errors.Is(err, context.DeadlineExceeded):
		return errTimeout.with(err)
	case errors.Is(err, context.Canceled):
		return errCancelled.with(err)
	}
	return errInternal.with(err)
}

// errorBody is the JSON of every error response:
//
//	{"error":{"code":"invalid","message":"…","message_zh":"…","fields":[{"path":…,"code":…,"zh":…,"en":…}]}}
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string              `json:"code"`
	Message   string              `json:"message"`
	MessageZH string              `json:"message_zh"`
	Fields    []ingest.FieldError `json:"fields"`
}

// fail answers the request with err's status and body and aborts the chain. The cause is
// attached to the gin context so that the access log shows it; clients never see it.
func (s *server) fail(c *gin.Context, err error) {
	e := classify(err)
	_ = c.Error(err)
	fields := e.fields
	if fields == nil {
		fields = []ingest.FieldError{}
	}
	if e.status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="portguard"`)
	}
	c.AbortWithStatusJSON(e.status, errorBody{Error: errorDetail{
		Code: e.code, Message: e.en, MessageZH: e.zh, Fields: fields}})
}
