package main

import (
	"context"
	"errors"
	"io"
)

// Placeholders until the composition root is wired (this session); removed by that commit.
var errNotWired = errors.New("not wired yet")

func runDev(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errNotWired
}
func runServe(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errNotWired
}
func runMigrate(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
	return errNotWired
}
