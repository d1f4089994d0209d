// Package config loads and validates the worker's configuration from a file, flags and the
// environment. A loaded Config is read-only and safe to share.
package config
