package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// postDecision is the synchronous decision API: the body is one declaration message, exactly as
// on the declarations topic. It answers 201 with the decision when this request made it, and 200
// with the same decision when the declaration number and version had already been decided
// (idempotent replay; the body of the replay is not re-validated against the first one).
func (s *server) postDecision(c *gin.Context) {
	if s.deps.Intake == nil || s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	raw, err := s.readJSON(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	sub, err := s.deps.Intake.Admit(ctx, raw)
	if err != nil {
		s.fail(c, err)
		return
	}
	decl := sub.Declaration
	if d, ok := s.deps.Targeting.Decision(decl.Number, decl.Version); ok {
		if err := sub.Durable(ctx); err != nil {
			s.fail(c, err)
			return
		}
		s.writeDecision(c, http.StatusOK, &d)
		return
	}
	// Deciding journals the decision behind the declaration, so waiting for the declaration
	// afterwards costs no second wait for the disk.
	d, err := s.deps.Targeting.Decide(ctx, decl)
	if derr := sub.Durable(ctx); derr != nil {
		s.fail(c, derr)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/decisions/"+d.DeclarationNo+"?version="+strconv.Itoa(d.Version))
	s.writeDecision(c, http.StatusCreated, &d)
}

// getDecision returns the decision of one declaration version, or of its latest decided version
// when ?version= is absent.
func (s *server) getDecision(c *gin.Context) {
	number := c.Param("number")
	version, set, err := intQuery(c, "version")
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	if set {
		if d, ok := s.deps.Targeting.Decision(number, version); ok {
			s.writeDecision(c, http.StatusOK, &d)
			return
		}
		s.fail(c, errNotFound)
		return
	}
	d, ok := s.deps.Targeting.Decision(number, 0) // 0: the latest version decided
	if !ok {
		s.fail(c, errNotFound)
		return
	}
	s.writeDecision(c, http.StatusOK, &d)
}

// readJSON reads a JSON request body of at most MaxBodyBytes.
func (s *server) readJSON(c *gin.Context) ([]byte, error) {
	if err := requireJSON(c); err != nil {
		return nil, err
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	var raw []byte
	var err error
	if n := c.Request.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		// Sized by the header: one allocation instead of io.ReadAll's growing from 512 bytes.
		// The extra byte lets the read that finds EOF not grow it.
		raw, err = readAllInto(make([]byte, 0, n+1), body)
	} else {
		raw, err = io.ReadAll(body)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge.with(err)
		}
		return nil, errBadJSON.with(err)
	}
	return raw, nil
}

// readAllInto is io.ReadAll appending to b.
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// bindJSON decodes a JSON request body into dst with gin's ShouldBindJSON (never BindJSON,
// which writes its own 400 before we can answer with field-level errors).
func (s *server) bindJSON(c *gin.Context, dst any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	return c.ShouldBindJSON(dst)
}

// requireJSON insists on Content-Type: application/json. Besides being honest about the body,
// it means a cross-site HTML form can never reach a state-changing route: such a request needs
// a CORS preflight, which we do not grant.
func requireJSON(c *gin.Context) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return errMediaType
	}
	return nil
}

// intQuery parses an optional positive integer query parameter.
func intQuery(c *gin.Context, name string) (v int, set bool, err error) {
	s, ok := c.GetQuery(name)
	if !ok {
		return 0, false, nil
	}
	v, err = strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, false, &apiError{status: http.StatusBadRequest, code: "bad_request",
			en: "query parameter " + name + " must be a positive integer", zh: "查询参数 " + name + " 须为正整数",
			fields: []ingest.FieldError{{Path: name, Code: "format", EN: "must be a positive integer", ZH: "须为正整数"}}}
	}
	return v, true, nil
}

// writeDecision answers with a decision through its hand-written encoder: this is the hot path
// of every electronic-port call, and reflection plus gin's second pass cost more than the
// decision itself.
func (s *server) writeDecision(c *gin.Context, status int, d *targeting.Decision) {
	buf := decisionBufs.Get().(*[]byte)
	b, err := d.AppendJSON((*buf)[:0])
	if err != nil {
		decisionBufs.Put(buf)
		s.fail(c, err)
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
	*buf = b
	decisionBufs.Put(buf)
}

// decisionBufs recycles answer buffers (c.Data writes before returning).
var decisionBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
