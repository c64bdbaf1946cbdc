// Package testsrv starts real servers (PostgreSQL, Redis) for tests on free loopback ports.
package testsrv
