package sqlkit

import (
	"testing"

	"focal/domain"
	"focal/ports"
)

// A cursor a listing did not issue is INVALID_REQUEST (400), not a page
// that starts somewhere else: a session cursor needs its time and its id,
// a turn or version cursor a number.
func TestCursorsAListingDidNotIssueAreInvalid(t *testing.T) {
	for _, raw := range []string{"123|", "|s1", "abc|s1", "123"} {
		if _, _, _, err := ParseSessionCursor(ports.EncodeCursor(raw)); !domain.IsCode(err, domain.CodeInvalidRequest) {
			t.Errorf("session cursor %q: %v, want INVALID_REQUEST", raw, err)
		}
	}
	for _, raw := range []string{"abc", "1|2"} {
		if _, _, err := ParseNumberCursor(ports.EncodeCursor(raw)); !domain.IsCode(err, domain.CodeInvalidRequest) {
			t.Errorf("number cursor %q: %v, want INVALID_REQUEST", raw, err)
		}
	}
	ns, id, ok, err := ParseSessionCursor(SessionCursor(123, "s1"))
	if err != nil || !ok || ns != 123 || id != "s1" {
		t.Errorf("an issued session cursor read as %d %q %v %v", ns, id, ok, err)
	}
	n, ok, err := ParseNumberCursor(NumberCursor(7))
	if err != nil || !ok || n != 7 {
		t.Errorf("an issued number cursor read as %d %v %v", n, ok, err)
	}
}
