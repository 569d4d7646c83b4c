/** RFC 3339 with nanoseconds in UTC, as the container runtime writes every log line's time. */
export const NANO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/
