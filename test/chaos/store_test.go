package chaos

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// The outage cases count a message committed twice from the stored turn
// records, which every store keeps as the domain's JSON: two completed
// turns of one message count, a failed or interrupted one does not.
func TestStoredTurnsCountCompletedMessages(t *testing.T) {
	st := &storedState{turns: map[string]storedTurn{}, numbers: map[string][]int{}}
	for i, turn := range []domain.Turn{
		{ID: "t1", SessionID: "s", TurnNumber: 1, Message: "hello", Response: "hi", Status: domain.TurnCompleted},
		{ID: "t2", SessionID: "s", TurnNumber: 2, Message: "hello", Response: "hi", Status: domain.TurnCompleted},
		{ID: "t3", SessionID: "s", TurnNumber: 3, Message: "bye", Status: domain.TurnFailed},
		{ID: "t4", SessionID: "s", TurnNumber: 4, Message: "hello", Status: domain.TurnInterrupted},
	} {
		record, err := json.Marshal(turn)
		require.NoError(t, err)
		require.NoError(t, st.addTurn(turn.ID, turn.SessionID, i+1, string(record)))
	}
	require.Equal(t, map[string]int{"hello": 2}, st.completed())
	require.Equal(t, storedTurn{sessionID: "s", response: "hi", message: "hello", status: "completed"}, st.turns["t1"])
	require.Equal(t, []int{1, 2, 3, 4}, st.numbers["s"])
	require.Error(t, st.addTurn("t5", "s", 5, "{not json"), "an unreadable record fails the read-back")
}
