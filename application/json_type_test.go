package application

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A field given a value of the wrong JSON type is told what it must be
// and what it was given; a number that is not an integer the field can
// hold is not called "not a number".
func TestWrongJSONTypeSaysWhatTheFieldTakes(t *testing.T) {
	var v struct {
		N  int64             `json:"n"`
		P  *int              `json:"p"`
		U  uint8             `json:"u"`
		F  float64           `json:"f"`
		S  string            `json:"s"`
		B  bool              `json:"b"`
		L  []string          `json:"l"`
		M  map[string]string `json:"m"`
		St struct{}          `json:"st"`
	}
	for body, want := range map[string]string{
		`{"n": 1.5}`:                 "must be an integer (number 1.5 given)",
		`{"n": 1e3}`:                 "must be an integer (number 1e3 given)",
		`{"n": 9223372036854775808}`: "must be an integer (number 9223372036854775808 given)",
		`{"p": "3"}`:                 "must be an integer (string given)",
		`{"u": 256}`:                 "must be an integer (number 256 given)",
		`{"f": "x"}`:                 "must be a number (string given)",
		`{"s": 5}`:                   "must be a string (number given)",
		`{"b": "yes"}`:               "must be a boolean (string given)",
		`{"l": {}}`:                  "must be an array (object given)",
		`{"m": []}`:                  "must be an object (array given)",
		`{"st": true}`:               "must be an object (bool given)",
	} {
		var typ *json.UnmarshalTypeError
		require.True(t, errors.As(json.Unmarshal([]byte(body), &v), &typ), body)
		assert.Equal(t, want, WrongJSONType(typ), body)
	}
}
