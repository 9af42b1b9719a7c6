package domain_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// A session's rule fires are written and read as the JSON object of rule id
// to record that stores and the API have always held, byte for byte as
// encoding/json writes such a map, whatever characters the ids have.
func TestRuleFiresJSONIsTheObjectOfRuleIDs(t *testing.T) {
	m := map[string]domain.RuleFire{
		"rule-greet": {Count: 2, LastTurn: 7}, "a<b>&c": {Count: 1, LastTurn: 1},
		`quote"back\slash`: {Count: 3, LastTurn: 2}, "naïve\u2028": {Count: 1, LastTurn: 9}, "": {Count: 4, LastTurn: 4},
	}
	want, err := json.Marshal(m)
	require.NoError(t, err)
	got, err := json.Marshal(domain.RuleFiresOf(m))
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))

	var back domain.RuleFires
	require.NoError(t, json.Unmarshal(got, &back))
	require.Equal(t, domain.RuleFiresOf(m), back)
	for id, f := range m {
		require.Equal(t, f, back.Get(id), id)
	}
	require.Equal(t, domain.RuleFire{}, back.Get("never fired"))

	var s domain.Session
	require.NoError(t, json.Unmarshal([]byte(`{"rule_fires":null}`), &s))
	require.Nil(t, s.RuleFires)
	b, err := json.Marshal(domain.Session{})
	require.NoError(t, err)
	require.NotContains(t, string(b), "rule_fires", "no fires: the field is left out, as an empty map was")
	require.Error(t, json.Unmarshal([]byte(`{"rule_fires":[1]}`), &s))
}

// Recording a fire in a session whose fires are shared with another copy
// (a stored session) copies them in one allocation, and leaves the other
// copy as it was.
func TestRecordFireCopiesSharedFiresOnce(t *testing.T) {
	base := &domain.Session{RuleFires: domain.RuleFiresOf(map[string]domain.RuleFire{"a": {Count: 1, LastTurn: 1}, "c": {Count: 1, LastTurn: 1}})}
	base.Freeze()
	for _, id := range []string{"a", "b"} {
		allocs := testing.AllocsPerRun(100, func() {
			s := base.Clone()
			s.RecordFire(id, 2)
		})
		require.LessOrEqual(t, allocs, 2.0, "rule %s: the clone and one copy of the fires", id) // Clone's value, the fires' array
	}
	s := base.Clone()
	s.RecordFire("b", 2)
	s.RecordFire("a", 3)
	s.RecordFire("a", 4)
	require.Equal(t, domain.RuleFiresOf(map[string]domain.RuleFire{"a": {Count: 1, LastTurn: 1}, "c": {Count: 1, LastTurn: 1}}), base.RuleFires)
	require.Equal(t, domain.RuleFiresOf(map[string]domain.RuleFire{"a": {Count: 3, LastTurn: 4}, "b": {Count: 1, LastTurn: 2}, "c": {Count: 1, LastTurn: 1}}), s.RuleFires)
}

// AppendJSONString writes what json.Marshal writes for any string: every
// byte value at every place of strings short and long enough to be read
// sixteen and eight bytes at a time and then as their last eight, and
// random strings mostly of the bytes a word test could confuse with one
// another.
func TestAppendJSONStringIsMarshal(t *testing.T) {
	check := func(s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(domain.AppendJSONString(nil, s)), "%q", s)
	}
	filler := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP0123456789")
	for n := 1; n <= 41; n++ {
		for at := range n {
			for c := range 256 {
				s := append([]byte(nil), filler[:n]...)
				s[at] = byte(c)
				check(string(s))
			}
		}
	}
	tricky := []byte("\x00\x1f\x20\x21\"#%&'`;<=>?[\\]\x7e\x7f\x80\xbf\xc3\xa9\xe2\x80\xa8\xfe\xffaZ09 ")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		s := make([]byte, rng.IntN(60))
		for i := range s {
			if rng.IntN(4) == 0 {
				s[i] = tricky[rng.IntN(len(tricky))]
			} else {
				s[i] = filler[rng.IntN(len(filler))]
			}
		}
		check(string(s))
	}
}
