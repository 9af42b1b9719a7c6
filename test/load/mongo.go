package main

import (
	"fmt"
	"time"
)

// mongo counts MongoDB commands per turn from the service's own metrics on
// the MongoDB store, as an operator sees them: a new user's first turn and
// a returning user's next turn.
func (b *bench) mongo(uri string) error {
	if uri == "" {
		b.report.notes = append(b.report.notes, "MongoDB rows skipped: no FOCAL_TEST_MONGO_URI (make bench starts the test server itself).")
		return nil
	}
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	db := fmt.Sprintf("focal_bench_%d", time.Now().UnixNano())
	f, err := b.focal(bundle, "FOCAL_STORE=mongo", "FOCAL_MONGO_ALLOW_STANDALONE=true", "FOCAL_MONGO_URI="+uri, "FOCAL_MONGO_DB="+db)
	if err != nil {
		return err
	}
	defer b.stop(f.cmd)
	c := newChatClient(f.url, token())
	msgs := b.phrases.messages()
	per := func(user string, turns int) (float64, error) {
		c0, t0 := counter(f.url, "focal_mongo_commands_total"), counter(f.url, "focal_turns_total")
		for i := range turns {
			u := user
			if u == "" {
				u = fmt.Sprintf("mongo-new-%d-%d", time.Now().UnixNano(), i)
			}
			if _, err := c.chat(u, msgs[i%len(msgs)]); err != nil {
				return 0, err
			}
		}
		c1, t1 := counter(f.url, "focal_mongo_commands_total"), counter(f.url, "focal_turns_total")
		if t1 == t0 {
			return 0, fmt.Errorf("no turn counted")
		}
		return (c1 - c0) / (t1 - t0), nil
	}
	if _, err := c.chat("mongo-returning", b.phrases.opening(0)); err != nil {
		return err
	}
	next, err := per("mongo-returning", 20)
	if err != nil {
		return err
	}
	first, err := per("", 20)
	if err != nil {
		return err
	}
	// The metric counts every command, the test server's workarounds
	// included; the verdict is the "mongo commands" section's, which
	// tells them apart.
	b.report.extra = append(b.report.extra, targetRow{target: "MongoDB commands per turn as the service's metric counts them (workarounds included)",
		measured: fmt.Sprintf("%.1f (next turn of a session), %.1f (first turn)", next, first),
		compare:  "counted by focal_mongo_commands_total over 20 turns each", status: informational})
	return nil
}
