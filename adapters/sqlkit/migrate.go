package sqlkit

import (
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema migration: the file migrations/NNN_name.sql.
// Migrations are applied in order of their numbers, each once; a
// released one is never edited, a change is a new file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the migrations folder of fsys (a store's embedded
// files), in order of their numbers.
func Migrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: the name must start with its number", e.Name())
		}
		body, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Pending are the migrations of all whose versions are not among applied
// (schema_migrations), in order.
func Pending(all []Migration, applied []int) []Migration {
	var out []Migration
	for _, m := range all {
		if !slices.Contains(applied, m.Version) {
			out = append(out, m)
		}
	}
	return out
}

// ScanInt reads a row of one integer column.
func ScanInt(row Row) (int, error) {
	var n int
	err := row.Scan(&n)
	return n, err
}

// CheckApplied refuses a store whose applied migrations (schema_migrations)
// are not all of this binary's, when it is to be read without migrating
// it: an older schema lacks what the reads expect, a newer one may hold
// what they would misread.
func CheckApplied(all []Migration, applied []int) error {
	var unknown []int
	for _, v := range applied {
		if !slices.ContainsFunc(all, func(m Migration) bool { return m.Version == v }) {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("its schema has migrations this focal does not know (%v): it was written by a newer focal; use that one", unknown)
	}
	var missing []string
	for _, m := range Pending(all, applied) {
		missing = append(missing, m.Name)
	}
	if len(missing) > 0 {
		return fmt.Errorf("its schema is older than this focal's: it lacks migrations %s; "+
			"start the service of this version on it once to migrate it, or use the focal that wrote it", strings.Join(missing, ", "))
	}
	return nil
}
