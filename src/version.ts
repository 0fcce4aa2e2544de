/** The tool version recorded with every result (METHODS.md §8). */
export const VERSION = "0.1.0";
