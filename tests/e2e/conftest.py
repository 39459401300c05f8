import sys
from pathlib import Path

# The test modules import stack.py beside this file (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))
