// Training text for the "tiny" tokenizer: plain English, chat-style answers, code and tool-call JSON,
// so the merges it learns look like the text tests feed a tiny model. Its content is arbitrary; changing
// it changes the tiny vocabulary (and so any fixture that hard-codes tiny token ids).

export const TINY_CORPUS = `
The quick brown fox jumps over the lazy dog. The dog was not amused, and the fox ran into the forest.
Once upon a time there was a small model that wanted to answer every question. It read the question,
thought about the answer, and then it wrote the answer one token at a time. When it was done, it said so.
What is the weather like today? It is sunny and warm, with a light wind from the west.
What is the capital of France? The capital of France is Paris. What is the capital of Japan? Tokyo.
Please summarize the following text in one sentence. Sure, here is a short summary of the text.
I can help you with that. Here are the steps you need to follow: first, open the file; second, read it;
third, close it again. Don't forget to save your work. You're welcome! It's been a pleasure. We'll see.
They've said that they'd like to come, but I'm not sure they will. She's here and he's there.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 2048 4096 65536 3.14159 2.71828 -1 +1 1e-5 99%.
Dates and times: 2024-01-01, 12:30, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday.

function add(a: number, b: number): number {
  return a + b;
}

export async function fetchWeather(city: string): Promise<string> {
  const response = await fetch(\`https://example.com/weather?city=\${encodeURIComponent(city)}\`);
  if (!response.ok) throw new Error(\`request failed: \${response.status}\`);
  const data = await response.json();
  return data.summary;
}

const items = [1, 2, 3].map((x) => x * 2).filter((x) => x > 2);
for (let i = 0; i < items.length; i++) {
  console.log(i, items[i]);
}

def fibonacci(n: int) -> int:
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)

class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()

if __name__ == "__main__":
    print(fibonacci(10))

[{"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The name of the city."}}, "required": ["city"]}}]
[{"name": "get_weather", "arguments": {"city": "Paris"}}]
[{"name": "search_files", "arguments": {"query": "tokenizer", "limit": 10}}]
{"result": {"temperature": 21, "unit": "celsius", "condition": "sunny"}}
{"type": "text", "text": "The weather in Paris is sunny, 21 degrees."}

The user asked a question and the assistant answered it. The system message told the assistant to be
brief and helpful. The tool returned a result, and the assistant used the result to answer the user.
Here is a list:
- apples
- oranges
- bananas

1. Read the input.
2. Think about it.
3. Write the output.

Bonjour le monde. Hola mundo. Hallo Welt. Ciao mondo. Olá mundo. Привет мир. 你好世界. こんにちは世界.
café naïve résumé über straße 😀 👍 🎉
`;
