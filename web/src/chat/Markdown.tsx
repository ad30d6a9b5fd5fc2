// Model answers rendered as Markdown, safely: no raw HTML (no rehype-raw, and HTML nodes are skipped),
// and react-markdown's default URL filter drops javascript: and other unsafe links.
import ReactMarkdown, { type Components } from 'react-markdown'

const components: Components = {
  a: ({ node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer nofollow" />,
  // Images from a model's answer could be used to leak the conversation to a third-party server.
  img: ({ alt }) => <span>{alt ? `[image: ${alt}]` : '[image]'}</span>,
}

export function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown space-y-2 break-words [&_a]:text-indigo-700 [&_a]:underline [&_code]:rounded [&_code]:bg-slate-100 [&_code]:px-1 [&_ol]:list-decimal [&_ol]:pl-6 [&_pre]:overflow-x-auto [&_pre]:rounded [&_pre]:bg-slate-100 [&_pre]:p-2 [&_ul]:list-disc [&_ul]:pl-6">
      <ReactMarkdown skipHtml components={components}>
        {text}
      </ReactMarkdown>
    </div>
  )
}
