package xds

import (
	"context"
	"fmt"
	"log/slog"
)

// cacheLogger adapts slog to go-control-plane's logger; its debug and info chatter is dropped
// to debug level.
type cacheLogger struct{ log *slog.Logger }

func (l cacheLogger) Debugf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (l cacheLogger) Infof(format string, args ...any)  { l.Debugf(format, args...) }
func (l cacheLogger) Warnf(format string, args ...any)  { l.log.Warn(fmt.Sprintf(format, args...)) }
func (l cacheLogger) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }
