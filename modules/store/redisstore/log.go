package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// SetLogger sends go-redis's own messages (dial failures during an outage)
// to log instead of stderr. go-redis's logger is process-wide.
func SetLogger(log *slog.Logger) {
	redis.SetLogger(redisLog{log.With("module", "redisstore")})
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
