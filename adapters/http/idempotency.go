package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/domain"
	"focal/ports"
)

// IdempotencyConfig tunes Idempotency-Key handling.
type IdempotencyConfig struct {
	// TTL is how long a key and its stored response live.
	TTL time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"24h" yaml:"ttl"`
	// Wait is how long a retry waits for the first request with its key to
	// finish before answering 409 IDEMPOTENCY_IN_PROGRESS.
	Wait time.Duration `env:"IDEMPOTENCY_WAIT" envDefault:"30s" yaml:"wait"`
	// ClaimTTL is how long a key stays claimed before its request has
	// answered: the longest a request can run (the service derives it
	// from its lock wait, turn and commit deadlines). A claim whose
	// request died frees its key after this, not after TTL. 0 means TTL.
	ClaimTTL time.Duration `yaml:"-"`
}

// keyResult is where the stream handler leaves its final result for the
// idempotency layer: a stream's bytes are not replayed as they were, its
// answer is (as one token event and the done event).
const keyResult = "focal.idempotent_result"

// idempotent makes a chat route safe to retry (DESIGN §3.4).
type idempotent struct {
	store ports.IdempotencyStore
	cfg   IdempotencyConfig
	poll  time.Duration
}

func (m *idempotent) handle(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	if !validIdempotencyKey(key) {
		writeError(c, domain.InvalidFields(domain.FieldError{Field: "Idempotency-Key", Message: "must be 1..255 printable ASCII characters"}))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeError(c, bodyReadError(err))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	tenant := principal(c).TenantID
	rec := ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: fingerprint(c.Request, body), Owner: uuid.NewString()}
	ctx := c.Request.Context()
	deadline := time.Now().Add(m.cfg.Wait)
	claimTTL := m.cfg.ClaimTTL
	if claimTTL <= 0 {
		claimTTL = m.cfg.TTL
	}
	for {
		rec.ExpiresAt = time.Now().Add(claimTTL)
		cur, claimed, err := m.store.ClaimIdempotencyKey(ctx, rec)
		if err != nil {
			writeError(c, err)
			return
		}
		switch {
		case claimed:
			m.runAndStore(c, rec)
			return
		case cur.Fingerprint != rec.Fingerprint:
			writeError(c, domain.Errorf(domain.CodeIdempotencyKeyReused, "Idempotency-Key %q was used with a different request", key))
			return
		case cur.Done:
			replayStored(c, cur)
			return
		}
		// The first request is still running: wait for it, then replay.
		if cur, err = m.awaitDone(ctx, tenant, key, deadline); err != nil {
			writeError(c, err)
			return
		}
		if cur != nil && cur.Done {
			if cur.Fingerprint != rec.Fingerprint {
				writeError(c, domain.Errorf(domain.CodeIdempotencyKeyReused, "Idempotency-Key %q was used with a different request", key))
				return
			}
			replayStored(c, cur)
			return
		}
		// Released (the first request failed): claim it again and run.
	}
}

// awaitDone polls until the key's record is done, released (nil) or the
// wait is over.
func (m *idempotent) awaitDone(ctx context.Context, tenant, key string, deadline time.Time) (*ports.IdempotencyRecord, error) {
	t := time.NewTicker(m.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		cur, err := m.store.GetIdempotencyKey(ctx, tenant, key)
		if err != nil || cur == nil || cur.Done {
			return cur, err
		}
		if time.Now().After(deadline) {
			return nil, &domain.Error{Code: domain.CodeIdempotencyInProgress,
				Message:    "a request with this Idempotency-Key is still being processed",
				RetryAfter: time.Second}
		}
	}
}

// runAndStore runs the handler and keeps its response for retries: 2xx and
// 4xx are stored; 5xx, a dropped client and the transient 4xx
// (SESSION_BUSY, IDEMPOTENCY_IN_PROGRESS, rate limits) release the key so a
// retry runs anew.
func (m *idempotent) runAndStore(c *gin.Context, rec ports.IdempotencyRecord) {
	capture := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = capture
	c.Next()
	c.Writer = capture.ResponseWriter

	ctx := context.WithoutCancel(c.Request.Context())
	status := capture.Status()
	stored := storable(status, domain.ErrorCode(c.GetString(keyErrorCode))) && c.Request.Context().Err() == nil
	header := map[string]string{"Content-Type": capture.Header().Get("Content-Type")}
	body := capture.body.Bytes()
	if res, ok := c.Get(keyResult); ok {
		header["Content-Type"] = "text/event-stream"
		body, _ = json.Marshal(res)
	} else if isEventStream(header["Content-Type"]) {
		stored = false // the stream ended without a done event
	}
	var err error
	if stored {
		err = m.store.CompleteIdempotencyKey(ctx, rec.TenantID, rec.Key, rec.Owner, status, header, body, time.Now().Add(m.cfg.TTL))
	} else {
		err = m.store.ReleaseIdempotencyKey(ctx, rec.TenantID, rec.Key, rec.Owner)
	}
	if err != nil {
		logctx.From(c.Request.Context(), zap.NewNop()).Warn("idempotency record not updated", zap.Error(err))
	}
}

func storable(status int, code domain.ErrorCode) bool {
	switch {
	case status >= 500:
		return false
	case code == domain.CodeSessionBusy, code == domain.CodeIdempotencyInProgress, code == domain.CodeRateLimitExceeded:
		return false
	}
	return true
}

// replayStored answers with a stored response and Idempotent-Replayed.
func replayStored(c *gin.Context, rec *ports.IdempotencyRecord) {
	defer c.Abort()
	c.Header("Idempotent-Replayed", "true")
	if isEventStream(rec.Header["Content-Type"]) {
		var done doneEvent
		if err := json.Unmarshal(rec.Body, &done); err != nil {
			writeError(c, domain.WrapError(domain.CodeInternal, err, "stored stream answer is unreadable"))
			return
		}
		s := startStream(c, done.TurnID)
		if s.token(done.Response) == nil {
			_ = s.done(&done.ChatResult)
		}
		return
	}
	for k, v := range rec.Header {
		if v != "" {
			c.Header(k, v)
		}
	}
	c.Status(rec.Status)
	_, _ = c.Writer.Write(rec.Body)
}

func isEventStream(contentType string) bool {
	return len(contentType) >= 17 && contentType[:17] == "text/event-stream"
}

// fingerprint identifies a request by method, path and canonical body, so
// a retry with the same JSON in another key order or spacing matches.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) == nil {
		if canonical, err := json.Marshal(v); err == nil {
			body = canonical
		}
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// captureWriter copies what the handler writes, for storing.
type captureWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
