package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// -stores names known stores only, each run once, in the order given.
func TestStoresFlag(t *testing.T) {
	stores, err := parseStores("postgres, mongo,postgres")
	require.NoError(t, err)
	require.Equal(t, []string{"postgres", "mongo"}, stores)
	for _, bad := range []string{"", "mysql", "mongo,"} {
		_, err := parseStores(bad)
		require.Error(t, err, "%q", bad)
	}
}

// Each store's run needs its server's address, and says which is missing.
func TestStoreTargets(t *testing.T) {
	host, err := target("mongo", "mongodb://127.0.0.1:27017/", "")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:27017", host)
	pg, err := target("postgres", "", "postgres://focal@127.0.0.1:5432/focal")
	require.NoError(t, err)
	require.Equal(t, "postgres://focal@127.0.0.1:5432/focal", pg)
	_, err = target("postgres", "mongodb://127.0.0.1:27017/", "")
	require.ErrorContains(t, err, "FOCAL_TEST_POSTGRES_URL")
	_, err = target("mongo", "", "postgres://focal@127.0.0.1:5432/focal")
	require.ErrorContains(t, err, "FOCAL_TEST_MONGO_URI")
}
