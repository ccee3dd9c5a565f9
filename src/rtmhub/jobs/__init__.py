"""The task runner: claims tasks, runs CSV previews and imports in batches, resumes after a crash. It owns
its units of work; the rules it applies live in the domain."""
