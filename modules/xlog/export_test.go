package xlog

// CachedFormats is the number of formats in the cache.
func (x *XLog) CachedFormats() int { return int(x.cached.Load()) }
