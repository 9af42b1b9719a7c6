package application

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// newTurnID is the id a turn is recorded under: a version 7 UUID laid out
// as uuid.NewV7 lays it out (milliseconds since the epoch, then the
// sub-millisecond fraction in 12 bits, each id after the one before in
// this process), made in this frame. Its random bits come from
// math/rand/v2's generator (ChaCha8, seeded from the system's entropy),
// not crypto/rand: a turn id names a turn in replies and records, which
// are read only under the tenant's credentials, so it guards nothing, as a
// request id guards nothing. uuid.NewV7 read crypto/rand through an
// io.Reader, which put each UUID's bytes on the heap, and took about a
// microsecond a turn. A session id, which names a session a client may
// continue, keeps crypto/rand (newSessionID).
func newTurnID() string { return turnIDAt(time.Now()) }

// turnIDAt is newTurnID made at now, a reading of time.Now the caller has
// just taken.
func turnIDAt(now time.Time) string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	stamp := nextV7Stamp(&lastV7Stamp, now.UnixNano())
	ms, seq := stamp>>12, stamp&0xfff
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | byte(seq>>8)&0x0f // version 7
	u[7] = byte(seq)
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// lastV7Stamp is the stamp of the last turn id made: milliseconds shifted
// left 12 bits plus the 12-bit fraction.
var lastV7Stamp atomic.Int64

// nextV7Stamp is the stamp of an id made at nano (Unix nanoseconds): its
// millisecond and its fraction of one in 256-nanosecond steps (0 to 3906),
// as uuid.NewV7 takes them, or one past the last stamp given (held in
// last) when the clock has not moved past it, so that ids follow one
// another.
func nextV7Stamp(last *atomic.Int64, nano int64) int64 {
	ms := nano / int64(time.Millisecond)
	want := ms<<12 + (nano-ms*int64(time.Millisecond))>>8
	for {
		prev := last.Load()
		next := max(want, prev+1)
		if last.CompareAndSwap(prev, next) {
			return next
		}
	}
}
