package ice

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace is below Debug: pion's own Debug and Trace lines describe
// every packet, too many for Switchboard's Debug level. A handler set to
// this level (or lower) shows them.
const levelTrace = slog.LevelDebug - 4

// pionLoggers adapts pion's logging to slog. pion's Info, Warn and Error
// lines become Debug lines (they are about individual clients, not about
// the server's health); its Debug and Trace lines become levelTrace.
type pionLoggers struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLoggers) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, msg)
	}
}

func (l pionLogger) emitf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

// Trace logs at levelTrace.
func (l pionLogger) Trace(msg string) { l.emit(levelTrace, msg) }

// Tracef logs at levelTrace.
func (l pionLogger) Tracef(format string, args ...any) { l.emitf(levelTrace, format, args...) }

// Debug logs at levelTrace.
func (l pionLogger) Debug(msg string) { l.emit(levelTrace, msg) }

// Debugf logs at levelTrace.
func (l pionLogger) Debugf(format string, args ...any) { l.emitf(levelTrace, format, args...) }

// Info logs at Debug.
func (l pionLogger) Info(msg string) { l.emit(slog.LevelDebug, msg) }

// Infof logs at Debug.
func (l pionLogger) Infof(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }

// Warn logs at Debug.
func (l pionLogger) Warn(msg string) { l.emit(slog.LevelDebug, msg) }

// Warnf logs at Debug.
func (l pionLogger) Warnf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }

// Error logs at Debug.
func (l pionLogger) Error(msg string) { l.emit(slog.LevelDebug, msg) }

// Errorf logs at Debug.
func (l pionLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
