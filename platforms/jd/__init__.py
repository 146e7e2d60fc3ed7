"""JD (京东): JOS calls, signing, error codes and OAuth (授权与令牌刷新)."""
