"""UniMotion Studio. `python main.py` opens the studio; `python main.py track|inspect|render ...` is the CLI."""
import sys

ENGINE_COMMANDS = {"track", "inspect", "render", "demo", "prepare-data", "train", "extend"}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ENGINE_COMMANDS:
        from engine.cli import main as engine_main

        sys.exit(engine_main(sys.argv[1:]))
    from studio.app import main as studio_main

    sys.exit(studio_main(sys.argv[1:]))
