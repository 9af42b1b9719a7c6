//go:build !race

package llm

// raceDepthAllowance: see handlerDepth.
const raceDepthAllowance = 0
