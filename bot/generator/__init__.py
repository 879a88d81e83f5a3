"""The scenario generator and its speech synthesis (development tools, not product code): scripts in
``scenarios/`` become scenarios with audio and exact truth."""
