DROP TABLE function_tools;
