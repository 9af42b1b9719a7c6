package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// capabilities are what the server supports beyond plain inserts, finds
// and deletes, detected once at start (buildInfo, hello). MongoDB has all
// of them; FerretDB (v1.24) has none, and the stores then take the paths
// that need none, tagging their extra commands as workarounds.
type capabilities struct {
	// serverTime: $$NOW in $expr filters and aggregation-pipeline updates.
	// Lease expiry is then written and judged by the server's clock, and
	// an expired lease is taken over by one atomic update. Without it:
	// the instance's clock, checked against the server's (skew.go), and a
	// takeover marker (takeover.go).
	serverTime bool
	// lookup: $lookup in aggregations. A session and its newest turns are
	// then one command; without it, two.
	lookup bool
	// atomicUpdates: concurrent conditional updates and $inc of one
	// document are applied one after another, none lost. Rate windows are
	// then counters and an expired idempotency record is replaced in one
	// update; without it, rate slots and takeover markers.
	atomicUpdates bool
	// ttl: TTL indexes remove expired records; without them, expired
	// records stay until replaced (every read checks expiry itself).
	ttl bool
	// standalone: neither a replica set nor a sharded cluster.
	standalone bool
	// server names the server for people.
	server string
}

type buildInfo struct {
	Version         string  `bson:"version"`
	VersionArray    []int32 `bson:"versionArray"`
	FerretDBVersion *string `bson:"ferretdbVersion"`
}

type helloReply struct {
	SetName string `bson:"setName"`
	Msg     string `bson:"msg"`
}

// minMongoMajor is the oldest MongoDB release the stores are written for
// ($lookup with localField and a pipeline, $$NOW, pipeline updates).
const minMongoMajor = 6

func (db *DB) detect(ctx context.Context) (capabilities, error) {
	var bi buildInfo
	var hello helloReply
	errInfo, errHello := concurrently(
		func() error { return db.runCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}, &bi) },
		func() error { return db.runCommand(ctx, bson.D{{Key: "hello", Value: 1}}, &hello) },
	)
	if errInfo != nil {
		return capabilities{}, fail(errInfo, "buildInfo")
	}
	if errHello != nil {
		return capabilities{}, fail(errHello, "hello")
	}
	return capabilitiesOf(bi, hello)
}

// capabilitiesOf decides from the server's own description.
func capabilitiesOf(bi buildInfo, hello helloReply) (capabilities, error) {
	c := capabilities{standalone: hello.SetName == "" && hello.Msg != "isdbgrid"}
	if bi.FerretDBVersion != nil {
		v := *bi.FerretDBVersion
		if v == "unknown" || v == "" {
			v = "(version not recorded)"
		}
		c.server = fmt.Sprintf("FerretDB %s, MongoDB %s wire protocol", v, bi.Version)
		return c, nil
	}
	c.server = "MongoDB " + bi.Version
	if len(bi.VersionArray) == 0 || bi.VersionArray[0] < minMongoMajor {
		return c, fmt.Errorf("mongo store: the server is %s; Focal needs MongoDB %d.0 or newer", c.server, minMongoMajor)
	}
	c.serverTime, c.lookup, c.atomicUpdates, c.ttl = true, true, true, true
	return c, nil
}
