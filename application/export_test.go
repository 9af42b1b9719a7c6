package application

// HoldBundleParsing takes the process's one bundle-parsing slot, as a
// bundle being parsed does, until the returned function is called.
func HoldBundleParsing() (release func()) {
	bundleParsing <- struct{}{}
	return func() { <-bundleParsing }
}
