package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"focal/application"
	"focal/domain"
)

// decodeJSON reads a whole JSON body into v strictly: valid UTF-8, one
// object, no unknown fields, right types. It returns the raw body too (for
// fingerprints). Errors are INVALID_REQUEST with the field named where
// there is one, or PAYLOAD_TOO_LARGE.
func decodeJSON(r *http.Request, v any) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyReadError(err)
	}
	if err := decodeJSONBytes(raw, v); err != nil {
		return nil, err
	}
	return raw, nil
}

// bodyReadError explains a failure to read the body: too large, or cut off.
func bodyReadError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return domain.Errorf(CodePayloadTooLarge, "request body exceeds %d bytes", tooLarge.Limit)
	}
	return domain.WrapError(domain.CodeInvalidRequest, err, "request body could not be read")
}

// decodeJSONBytes is decodeJSON for a body already read.
func decodeJSONBytes(raw []byte, v any) error { return decodeBody(raw, v, true) }

// decodeBody reads one JSON value into v; strict refuses unknown fields.
// Lenient decoding is for bodies of other vendors' formats, whose clients
// send fields Focal has no use for.
func decodeBody(raw []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return invalidBody("request body is empty: a JSON object is required")
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD; a
	// client sending it has a bug worth hearing about.
	if !utf8.Valid(raw) {
		return invalidBody("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return invalidBody("request body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidBody("request body holds more than one JSON value")
	}
	return nil
}

func invalidBody(msg string) error {
	return &domain.Error{Code: domain.CodeInvalidRequest, Message: msg, Details: []domain.FieldError{}}
}

// jsonError explains a decoding failure, naming the field when possible.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalidBody(fmt.Sprintf("request body is not valid JSON (at byte %d)", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidBody("request body is not valid JSON (it ends early)")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidBody("request body must be a JSON object")
		}
		return domain.InvalidFields(domain.FieldError{Field: typ.Field, Message: application.WrongJSONType(typ)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.InvalidFields(domain.FieldError{Field: name, Message: "is not a known field"})
	}
	return invalidBody("request body is not valid JSON")
}
